// What edgectl's remote command groups share: a stub on the context's controller, unary calls
// with a deadline whose errors name the call (and, when unreachable, the controller), and the
// wiring of a CLI11 subcommand to such a call.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>

#include "common/core/result.h"
#include "common/tls/grpc_tls.h"
#include "controller/edgectl/context.h"
#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/output.h"
#include "controller/edgectl/remote.h"
#include "edge/v1/admin.grpc.pb.h"

namespace edge::edgectl {

struct Remote {
  std::unique_ptr<edge::v1::OperatorService::Stub> stub;
  std::string target;
  std::string unreachable_hint;  // OperatorChannel::unreachable_hint
};

inline Result<Remote> Dial(const Context& c) {
  EDGE_ASSIGN_OR_RETURN(auto connected, ConnectOperatorChannel(c));
  return Remote{edge::v1::OperatorService::NewStub(connected.channel), c.controller, connected.unreachable_hint};
}

// Calls `rpc` with a deadline; errors name the call and, when unreachable, the controller.
template <typename Rpc>
Status Call(const Remote& remote, std::string_view what, Rpc rpc, std::chrono::seconds deadline = std::chrono::seconds(15)) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  const grpc::Status s = rpc(*remote.stub, ctx);
  if (s.ok()) return Ok();
  Error e = tls::FromGrpcStatus(s, what);
  e.message = TerminalSafe(e.message);  // the controller's words, printed to a terminal
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) e.message += remote.unreachable_hint;
  return Fail(e);
}

struct Commands {
  std::function<Result<Context>()> context;
  const std::string& output;
  int& exit_code;
};

// Sets `cmd`'s callback to run `body(remote, json)` against the controller; `body` returns a
// Status, or an exit code (int) when it decides one itself.
template <typename Body>
void On(const std::shared_ptr<Commands>& commands, CLI::App* cmd, Body body) {
  cmd->callback([commands, body] {
    auto ctx = commands->context();
    if (!ctx) {
      commands->exit_code = Report(ctx.error());
      return;
    }
    auto remote = Dial(*ctx);
    if (!remote) {
      commands->exit_code = Report(remote.error());
      return;
    }
    auto result = body(*remote, commands->output == "json");
    if constexpr (std::is_same_v<decltype(result), int>) {
      commands->exit_code = result;
    } else {
      commands->exit_code = result ? kExitOk : Report(result.error());
    }
  });
}

}  // namespace edge::edgectl
