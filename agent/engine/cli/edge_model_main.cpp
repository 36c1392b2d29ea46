// edge-model: the engine's `model` commands without the rest of edgectl, for development.
#include <CLI/CLI.hpp>

#include "agent/engine/cli/model_commands.h"

int main(int argc, char** argv) {
  CLI::App app{"edge-model: quantize, inspect, run and benchmark ONNX models with the edgefleet engine"};
  int exit_code = 0;
  edge::engine::RegisterModelCommands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
