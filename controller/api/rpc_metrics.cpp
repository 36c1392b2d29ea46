#include "controller/api/rpc_metrics.h"

#include <google/protobuf/descriptor.h>

#include <array>
#include <set>
#include <string>

namespace edge::controller {

namespace {

using grpc::experimental::InterceptionHookPoints;

class RpcMetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  RpcMetricsInterceptor(ControllerMetrics& metrics, const metrics::MonotonicClock& clock,
                        std::string method, bool unary)
      : metrics_(metrics),
        clock_(clock),
        method_(std::move(method)),
        unary_(unary),
        started_ns_(clock.NowNs()) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      const auto code = methods->GetSendStatus().error_code();
      metrics_.rpcs.With({{"method", method_}, {"code", std::string(GrpcCodeName(code))}})
          .Increment();
      if (unary_)
        metrics_.rpc_duration.With({{"method", method_}}).Observe(clock_.SecondsSince(started_ns_));
    }
    methods->Proceed();
  }

 private:
  ControllerMetrics& metrics_;
  const metrics::MonotonicClock& clock_;
  const std::string method_;
  const bool unary_;
  const int64_t started_ns_;
};

// The controller's own methods ("/edge.v1.OperatorService/CreateRollout", ...). gRPC also
// hands calls to methods no service registered to its catch-all handler (which answers
// UNIMPLEMENTED), and their path is whatever the client sent: those are labelled "unknown".
const std::set<std::string, std::less<>>& KnownMethods() {
  static const auto methods = [] {
    std::set<std::string, std::less<>> out;
    for (const char* service :
         {"edge.v1.AgentService", "edge.v1.EnrollmentService", "edge.v1.OperatorService"}) {
      const auto* descriptor =
          google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
      for (int i = 0; descriptor && i < descriptor->method_count(); ++i)
        out.insert("/" + descriptor->full_name() + "/" + descriptor->method(i)->name());
    }
    return out;
  }();
  return methods;
}

class RpcMetricsFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  RpcMetricsFactory(ControllerMetrics& metrics, const metrics::MonotonicClock& clock)
      : metrics_(metrics), clock_(clock) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const std::string_view method = info->method() ? info->method() : "";
    const bool known = KnownMethods().contains(method);
    return new RpcMetricsInterceptor(
        metrics_, clock_, known ? std::string(method) : "unknown",
        known && info->type() == grpc::experimental::ServerRpcInfo::Type::UNARY);
  }

 private:
  ControllerMetrics& metrics_;
  const metrics::MonotonicClock& clock_;
};

}  // namespace

std::string_view GrpcCodeName(int code) {
  static constexpr std::array<std::string_view, 17> kNames = {"OK",
                                                              "CANCELLED",
                                                              "UNKNOWN",
                                                              "INVALID_ARGUMENT",
                                                              "DEADLINE_EXCEEDED",
                                                              "NOT_FOUND",
                                                              "ALREADY_EXISTS",
                                                              "PERMISSION_DENIED",
                                                              "RESOURCE_EXHAUSTED",
                                                              "FAILED_PRECONDITION",
                                                              "ABORTED",
                                                              "OUT_OF_RANGE",
                                                              "UNIMPLEMENTED",
                                                              "INTERNAL",
                                                              "UNAVAILABLE",
                                                              "DATA_LOSS",
                                                              "UNAUTHENTICATED"};
  return code >= 0 && code < static_cast<int>(kNames.size()) ? kNames[static_cast<size_t>(code)]
                                                             : "UNKNOWN";
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> MakeRpcMetricsInterceptor(
    ControllerMetrics& metrics, const metrics::MonotonicClock& clock) {
  return std::make_unique<RpcMetricsFactory>(metrics, clock);
}

}  // namespace edge::controller
