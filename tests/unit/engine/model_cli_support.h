// Runs the `model` commands (edgectl model / edge-model) in-process for the engine tests.
#pragma once

#include <string>
#include <vector>

namespace edge::engine::testing {

// Parses `args` (e.g. {"quantize", "m.onnx", ...}) as the commands under `model` and runs
// the one chosen; returns its exit code, 2 for a command line CLI11 rejects.
int RunModelCli(std::vector<std::string> args);

}  // namespace edge::engine::testing
