// The Open Inference Protocol (KServe v2) gRPC service over a Registry (DESIGN §6).
//
// Contract: ModelInfer accepts FP32, INT8 and UINT8 inputs (integers converted to float exactly)
// as typed contents or as raw_input_contents (little-endian, one entry per input, all inputs raw
// or none); every model input exactly once, matched by name, with exactly the model's shape.
// Outputs are FP32, raw when the request was raw, and model_version names the version that ran.
// Errors: unknown model or version -> NOT_FOUND; a malformed request (bad dtype, shape, element
// or byte count, missing, duplicate or unknown tensor, NaN or Inf in an FP32 input, unparsable
// bytes) -> INVALID_ARGUMENT, counted as `rejected`, never as a model error; a request over the
// server's size limit -> RESOURCE_EXHAUSTED (gRPC enforces it before any model is involved); a
// model failure or a NaN/Inf output -> INTERNAL, counted in the version's error statistics
// (what probation and health reports judge the model by).
//
// Threads (DESIGN §2a): the callback API's threads belong to gRPC's event engine; a model that
// runs for tens of milliseconds there would stall its polling for every other call. So
// ModelInfer only hands the call to the service's own inference workers, which parse, run and
// answer it; the other methods are trivial and answer inline. ModelInfer is a raw (ByteBuffer)
// method so that bytes which are not a ModelInferRequest get INVALID_ARGUMENT instead of gRPC's
// generic INTERNAL "failed to parse".
#pragma once

#include <atomic>
#include <string>

#include <boost/asio/thread_pool.hpp>
#include <grpcpp/grpcpp.h>

#include "agent/serve/registry.h"
#include "common/core/result.h"
#include "edge/v1/inference.grpc.pb.h"

namespace edge::serve {

inline constexpr const char* kServerName = "edge-agent";
// The ModelMetadata platform of every model the agent serves: its own engine, ONNX models.
inline constexpr const char* kPlatform = "edgefleet_onnx";

// One ModelInfer against `registry`, without gRPC: what the service runs for each call.
Status Infer(Registry& registry, const inference::ModelInferRequest& request,
             inference::ModelInferResponse& response);

using OipServiceBase = inference::GRPCInferenceService::WithCallbackMethod_ServerLive<
    inference::GRPCInferenceService::WithCallbackMethod_ServerReady<
        inference::GRPCInferenceService::WithCallbackMethod_ModelReady<
            inference::GRPCInferenceService::WithCallbackMethod_ServerMetadata<
                inference::GRPCInferenceService::WithCallbackMethod_ModelMetadata<
                    inference::GRPCInferenceService::WithRawCallbackMethod_ModelInfer<
                        inference::GRPCInferenceService::Service>>>>>>;

class OipService final : public OipServiceBase {
 public:
  // `workers`: inference threads (at least 1).
  OipService(Registry& registry, std::string server_version, int workers);
  ~OipService() override;
  // Waits for the calls handed to the workers; after the server's Shutdown() and Wait().
  void JoinWorkers();

  // ServerReady answers false from now on (the server is draining).
  void BeginShutdown() { shutting_down_.store(true); }

  grpc::ServerUnaryReactor* ServerLive(grpc::CallbackServerContext* ctx,
                                       const inference::ServerLiveRequest* request,
                                       inference::ServerLiveResponse* response) override;
  // Ready while not shutting down and at least one model is served.
  grpc::ServerUnaryReactor* ServerReady(grpc::CallbackServerContext* ctx,
                                        const inference::ServerReadyRequest* request,
                                        inference::ServerReadyResponse* response) override;
  grpc::ServerUnaryReactor* ModelReady(grpc::CallbackServerContext* ctx,
                                       const inference::ModelReadyRequest* request,
                                       inference::ModelReadyResponse* response) override;
  grpc::ServerUnaryReactor* ServerMetadata(grpc::CallbackServerContext* ctx,
                                           const inference::ServerMetadataRequest* request,
                                           inference::ServerMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelMetadata(grpc::CallbackServerContext* ctx,
                                          const inference::ModelMetadataRequest* request,
                                          inference::ModelMetadataResponse* response) override;
  grpc::ServerUnaryReactor* ModelInfer(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
                                       grpc::ByteBuffer* response) override;

 private:
  Registry& registry_;
  const std::string server_version_;
  std::atomic<bool> shutting_down_{false};
  boost::asio::thread_pool workers_;
};

}  // namespace edge::serve
