#include "controller/edgectl/version_cmd.h"

#include <iostream>
#include <memory>

#include "common/core/version.h"
#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/operator_call.h"
#include "controller/edgectl/output.h"
#include "edge/v1/admin.grpc.pb.h"

namespace edge::edgectl {

void RegisterVersionCommand(CLI::App& app, std::function<Result<Context>()> context, const std::string& output_format,
                            int& exit_code) {
  app.set_version_flag("--version", std::string("edgectl ") + kVersion, "print edgectl's version and exit");
  auto* cmd = app.add_subcommand("version", "this edgectl's version and the controller's");
  auto client_only = std::make_shared<bool>(false);
  cmd->add_flag("--client", *client_only, "only this edgectl's; do not contact the controller");
  cmd->callback([context = std::move(context), &output_format, &exit_code, client_only] {
    const bool json = output_format == "json";
    nlohmann::json out = {{"client", {{"version", kVersion}}}};
    auto print = [&] {
      if (json) {
        PrintJson(out);
        return;
      }
      std::cout << "edgectl     " << kVersion << "\n";
      if (out.contains("server"))
        std::cout << "controller  " << out["server"]["version"].get<std::string>() << " (fleet "
                  << out["server"]["fleet"].get<std::string>() << ", at " << out["server"]["address"].get<std::string>()
                  << ")\n";
    };
    if (*client_only) {
      print();
      exit_code = kExitOk;
      return;
    }
    // The client's version is printed whatever happens to the call; the call's failure then
    // sets the exit code, as for any command that could not reach the controller.
    Status called = [&]() -> Status {
      EDGE_ASSIGN_OR_RETURN(auto ctx, context());
      EDGE_ASSIGN_OR_RETURN(auto remote, Dial(ctx));
      edge::v1::GetVersionRequest req;
      edge::v1::VersionInfo resp;
      EDGE_TRY(Call(remote, "get version", [&](auto& stub, auto& c) { return stub.GetVersion(&c, req, &resp); }));
      // The controller's words, printed to a terminal.
      out["server"] = {{"version", TerminalSafe(resp.version())}, {"fleet", TerminalSafe(resp.fleet())},
                       {"address", ctx.controller}};
      return Ok();
    }();
    print();
    exit_code = called ? kExitOk : Report(called.error());
  });
}

}  // namespace edge::edgectl
