// `edgectl infer`: one inference against a device's local inference API (the Open Inference
// Protocol on the agent's unix socket or loopback port, docs/inference-api.md), for operators
// on the device and for the demo.
//
// Contract: RunInfer asks ModelMetadata for the input names and shapes, sends the inputs (from
// .npy files, or seeded uniform noise in [-1, 1)) as raw FP32, prints the version that answered
// and each output (top-5 scores for a vector output in table mode), and returns the exit code:
// 0 ok, 1 the server refused or failed (its message is printed), 2 usage, 69 unreachable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "controller/edgectl/output.h"

namespace edge::edgectl {

struct InferOptions {
  std::string model;
  std::string version;                                // empty: the serving version
  std::string socket = "/run/edge-agent/infer.sock";  // used when address is empty
  std::string address;                                // loopback host:port
  std::vector<std::string> inputs;                    // .npy files, one per model input, in order
  bool random = false;
  uint32_t seed = 1;
  int timeout_seconds = 10;
  uint32_t repeat = 1;  // > 1: send the request this many times, print a summary
};

int RunInfer(const InferOptions& options, OutputFormat format);

// Adds `infer` to `app`. `output_format` is edgectl's global -o ("table" or "json"), read when
// the command runs; exit_code receives RunInfer's result.
void RegisterInferCommand(CLI::App& app, const std::string& output_format, int& exit_code);

}  // namespace edge::edgectl
