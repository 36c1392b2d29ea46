// Counts every gRPC call a listener finishes, by method and status code, and times unary calls
// (streams are counted, not timed: their duration is a connection's life), as a gRPC server
// interceptor so that no service has to remember to.
#pragma once

#include <memory>
#include <string_view>

#include <grpcpp/support/server_interceptor.h>

#include "controller/api/controller_metrics.h"
#include "common/metrics/timer.h"

namespace edge::controller {

// "OK", "UNAVAILABLE", ...: the status code's name as gRPC documents it.
std::string_view GrpcCodeName(int code);

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    ControllerMetrics& metrics, const metrics::MonotonicClock& clock);

}  // namespace edge::controller
