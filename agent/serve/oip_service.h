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
// Why the callback API: an inference is short CPU work with no I/O, so it runs inline on the
// thread that received the request, with no thread hand-off and no per-call reactor state; the
// sync API would add a thread pool of its own for nothing. ModelInfer is a raw (ByteBuffer)
// method so that bytes which are not a ModelInferRequest get INVALID_ARGUMENT instead of gRPC's
// generic INTERNAL "failed to parse".
#pragma once

#include <atomic>
#include <string>

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
  OipService(Registry& registry, std::string server_version);

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
};

}  // namespace edge::serve
