// The controller's three gRPC services, each on its own listener and trust root.
#pragma once

#include <memory>

#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/service_type.h>

#include "controller/api/context.h"
#include "controller/net/web.h"

namespace edge::controller {

std::unique_ptr<grpc::Service> MakeAgentService(ControllerContext& ctx);
std::unique_ptr<grpc::Service> MakeEnrollmentService(ControllerContext& ctx);
// With `dashboard`, also the web dashboard's handler (valid while the service lives).
std::unique_ptr<grpc::Service> MakeOperatorService(ControllerContext& ctx, net::WebHandler* dashboard = nullptr);

// Whether `s` is a blob digest: 64 lower-case hex characters (checked before it becomes a path).
inline bool IsDigest(const std::string& s) {
  if (s.size() != 64) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

inline grpc::Status Busy(const WorkQueueLimit& limit) {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "controller busy: " + std::to_string(limit.limit()) + " calls already waiting; retry with backoff");
}

// A unary call that has waited this long for the strand is answered DEADLINE_EXCEEDED
// without being worked on (the server-side deadline of unary calls).
inline constexpr auto kUnaryDeadline = std::chrono::seconds(10);

// Which calls go ahead on the strand (urgent_lane.h): operators', not the fleet's.
enum class Lane { kFleet, kOperator };

// Runs `work` (returning grpc::Status) on the strand and finishes the unary call with it. At
// most `limit` such calls wait at once; beyond that the call is refused at once, and a call
// whose client has gone away, or that waited past kUnaryDeadline, is not worked on.
template <typename Work>
grpc::ServerUnaryReactor* FinishOnStrand(ControllerContext& ctx, Lane lane, WorkQueueLimit& limit,
                                         grpc::CallbackServerContext* call, Work work) {
  auto* reactor = call->DefaultReactor();
  if (!limit.TryAcquire()) {
    reactor->Finish(Busy(limit));
    return reactor;
  }
  const auto queued = std::chrono::steady_clock::now();
  auto run = [reactor, call, &limit, queued, work = std::move(work)]() mutable {
    grpc::Status s = call->IsCancelled() ? grpc::Status(grpc::StatusCode::CANCELLED, "client went away")
                     : std::chrono::steady_clock::now() - queued > kUnaryDeadline
                         ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "waited over 10 s for the controller")
                         : work();
    limit.Release();
    reactor->Finish(s);
  };
  if (lane == Lane::kOperator) ctx.urgent.Post(std::move(run));
  else ctx.urgent.PostOrdinary(std::move(run));
  return reactor;
}

// A streaming reactor that finishes at once with `status` (authentication failed before any
// message was read).
template <typename Reactor>
Reactor* Rejected(grpc::Status status) {
  struct Rejecting final : Reactor {
    explicit Rejecting(const grpc::Status& s) { this->Finish(s); }
    void OnDone() override { delete this; }
  };
  return new Rejecting(status);
}

}  // namespace edge::controller
