// `model` subcommands (quantize, inspect, run, bench) for edgectl and edge-model.
#pragma once

#include <CLI/CLI.hpp>

namespace edge::engine {

// Adds quantize, inspect, run and bench under `model`. When one of them runs, it sets
// exit_code: 0 ok, 1 error, 2 usage, 3 (quantize) quality below a --min-* bar.
void RegisterModelCommands(CLI::App& model, int& exit_code);
// `quantize` alone (quantize_command.cpp).
void RegisterQuantizeCommand(CLI::App& model, int& exit_code);

}  // namespace edge::engine
