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

// The error for an operator call `what` that failed with `status`, said in the operator's terms:
// the controller's words made terminal-safe, the likely causes added when it is unreachable.
// gRPC answers UNIMPLEMENTED, with no message, for a service the listener does not serve: then
// a GetVersion on `stub` tells a listener that is not the operator endpoint at all (the
// controller's enrollment port: kUnauthenticated, exit 77, like every other wrong-port case)
// from a controller that serves operators but lacks this call (an older one: kFailedPrecondition).
Error OperatorCallError(const grpc::Status& status, std::string_view what, edge::v1::OperatorService::Stub& stub,
                        const std::string& target, const std::string& unreachable_hint);

// Calls `rpc` with a deadline; errors name the call and, when unreachable, the controller.
template <typename Rpc>
Status Call(const Remote& remote, std::string_view what, Rpc rpc, std::chrono::seconds deadline = std::chrono::seconds(15)) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline);
  const grpc::Status s = rpc(*remote.stub, ctx);
  if (s.ok()) return Ok();
  return Fail(OperatorCallError(s, what, *remote.stub, remote.target, remote.unreachable_hint));
}

struct Commands {
  std::function<Result<Context>()> context;
  const std::string& output;
  int& exit_code;
};

// Sets `cmd`'s callback to run `body(remote, json)` against the controller; `body` returns a
// Status, or an exit code (int) when it decides one itself. `check_usage`, when given, runs
// first and may throw CLI::ValidationError (exit 2, before any connection is made).
template <typename Body>
void On(const std::shared_ptr<Commands>& commands, CLI::App* cmd, Body body, std::function<void()> check_usage = {}) {
  cmd->callback([commands, body, check_usage] {
    if (check_usage) check_usage();
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
