#include "tests/unit/engine/model_cli_support.h"

#include <algorithm>

#include "agent/engine/cli/model_commands.h"

namespace edge::engine::testing {

int RunModelCli(std::vector<std::string> args) {
  CLI::App app{"test"};
  int exit_code = -1;
  RegisterModelCommands(app, exit_code);
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments reversed
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}

}  // namespace edge::engine::testing
