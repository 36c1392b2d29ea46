// Counts every gRPC call a listener finishes, by method and status code, and times unary calls
// (streams are counted, not timed: their duration is a connection's life), as a gRPC server
// interceptor so that no service has to remember to. A method that none of the controller's
// services has (gRPC answers it UNIMPLEMENTED) is counted as method="unknown": its name is
// whatever a client sent, and must not become a label.
#pragma once

#include <grpcpp/support/server_interceptor.h>

#include <memory>
#include <string_view>

#include "common/metrics/timer.h"
#include "controller/api/controller_metrics.h"

namespace edge::controller {

// "OK", "UNAVAILABLE", ...: the status code's name as gRPC documents it.
std::string_view GrpcCodeName(int code);

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    ControllerMetrics& metrics, const metrics::MonotonicClock& clock);

}  // namespace edge::controller
