#include "agent/serve/oip_service.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

#include "common/tls/grpc_tls.h"

namespace edge::serve {

namespace {

// Raw tensor bytes are little-endian by the protocol; they are copied as they are.
static_assert(std::endian::native == std::endian::little, "raw tensor contents assume a little-endian host");

using InputTensor = inference::ModelInferRequest::InferInputTensor;

enum class Dtype { kFp32, kInt8, kUint8 };

struct DtypeInfo {
  Dtype dtype;
  size_t bytes;
  const char* name;
};

std::optional<DtypeInfo> ParseDatatype(const std::string& name) {
  if (name == "FP32") return DtypeInfo{Dtype::kFp32, 4, "FP32"};
  if (name == "INT8") return DtypeInfo{Dtype::kInt8, 1, "INT8"};
  if (name == "UINT8") return DtypeInfo{Dtype::kUint8, 1, "UINT8"};
  return std::nullopt;
}

std::string ShapeText(const auto& dims) {
  std::string out = "[";
  for (int64_t d : dims) out += (out.size() > 1 ? "," : "") + std::to_string(d);
  return out + "]";
}

std::string Names(const std::vector<engine::TensorInfo>& tensors) {
  std::string out;
  for (const auto& t : tensors) out += (out.empty() ? "" : ", ") + t.name;
  return out;
}

tl::unexpected<Error> BadInput(const std::string& input, const std::string& problem) {
  return Fail(ErrorCode::kInvalidArgument, "input '" + input + "': " + problem);
}

bool HasTypedContents(const InputTensor& t) {
  if (!t.has_contents()) return false;
  const auto& c = t.contents();
  return c.bool_contents_size() + c.int_contents_size() + c.int64_contents_size() + c.uint_contents_size() +
             c.uint64_contents_size() + c.fp32_contents_size() + c.fp64_contents_size() +
             c.bytes_contents_size() > 0;
}

// Typed contents: the field of the datatype holds exactly `elements` values.
Status CheckTypedCount(const InputTensor& t, const DtypeInfo& dtype, size_t elements) {
  const auto& c = t.contents();
  const int count = dtype.dtype == Dtype::kFp32 ? c.fp32_contents_size()
                    : dtype.dtype == Dtype::kInt8 ? c.int_contents_size()
                                                  : c.uint_contents_size();
  if (static_cast<size_t>(count) == elements) return Ok();
  const char* field = dtype.dtype == Dtype::kFp32 ? "fp32_contents" : dtype.dtype == Dtype::kInt8 ? "int_contents" : "uint_contents";
  return BadInput(t.name(), std::string(dtype.name) + " data needs " + std::to_string(elements) + " values in contents." +
                                field + ", got " + std::to_string(count));
}

// What one request input becomes once checked against the model: where it goes and how to read it.
struct PlannedInput {
  const InputTensor* tensor;
  DtypeInfo dtype;
  size_t model_index;
  const std::string* raw;  // null: typed contents
};

// The batch of a request to a batch-dynamic model: the leading dimension of the first of the
// model's batched inputs that the request gives (1 for a model with fixed shapes; a missing
// input is PlanInputs's to report).
Result<int64_t> RequestBatch(const inference::ModelInferRequest& request, const engine::Model& model) {
  if (!model.dynamic_batch()) return 1;
  for (const auto& info : model.inputs()) {
    if (!info.batched) continue;
    for (const InputTensor& t : request.inputs()) {
      if (t.name() != info.name) continue;
      if (t.shape_size() == 0) return BadInput(t.name(), "has no shape; its leading dimension is the batch size");
      if (t.shape(0) < 1 || t.shape(0) > model.max_batch()) {
        return BadInput(t.name(), "batch " + std::to_string(t.shape(0)) + " is outside 1.." +
                                      std::to_string(model.max_batch()) + " (the model's maximum batch)");
      }
      return t.shape(0);
    }
  }
  return 1;
}

// The inputs a request of `batch` samples must carry: the model's, with the batch in the
// leading dimension of the batched ones. Known without planning the batch, so that a request
// is checked whole before it can make the model plan (and cache) a new batch size.
std::vector<engine::TensorInfo> InputsAtBatch(const engine::Model& model, int64_t batch) {
  std::vector<engine::TensorInfo> inputs = model.inputs();
  for (auto& info : inputs) {
    if (!info.batched || batch == 1) continue;
    info.shape[0] = batch;
    info.elements *= batch;
  }
  return inputs;
}

Result<std::vector<PlannedInput>> PlanInputs(const inference::ModelInferRequest& request,
                                             const std::vector<engine::TensorInfo>& wanted) {
  const bool raw = request.raw_input_contents_size() > 0;
  if (raw && request.raw_input_contents_size() != request.inputs_size()) {
    return Fail(ErrorCode::kInvalidArgument,
                "raw_input_contents has " + std::to_string(request.raw_input_contents_size()) +
                    " entries for " + std::to_string(request.inputs_size()) + " inputs; give one per input, in order");
  }
  std::vector<PlannedInput> plan;
  std::vector<bool> seen(wanted.size(), false);
  for (int i = 0; i < request.inputs_size(); ++i) {
    const InputTensor& t = request.inputs(i);
    size_t index = 0;
    while (index < wanted.size() && wanted[index].name != t.name()) ++index;
    if (index == wanted.size()) return BadInput(t.name(), "the model has no such input (inputs: " + Names(wanted) + ")");
    if (seen[index]) return BadInput(t.name(), "given more than once");
    seen[index] = true;
    auto dtype = ParseDatatype(t.datatype());
    if (!dtype) return BadInput(t.name(), "datatype '" + t.datatype() + "' is not accepted; use FP32, INT8 or UINT8");
    if (!std::equal(t.shape().begin(), t.shape().end(), wanted[index].shape.begin(), wanted[index].shape.end())) {
      return BadInput(t.name(), "shape " + ShapeText(t.shape()) + " differs from the model's " +
                                    ShapeText(wanted[index].shape));
    }
    const std::string* raw_bytes = nullptr;
    if (!raw) EDGE_TRY(CheckTypedCount(t, *dtype, static_cast<size_t>(wanted[index].elements)));
    if (raw) {
      if (HasTypedContents(t)) {
        return BadInput(t.name(), "has typed contents although the request uses raw_input_contents; use one or the other");
      }
      raw_bytes = &request.raw_input_contents(i);
      const size_t expected = static_cast<size_t>(wanted[index].elements) * dtype->bytes;
      if (raw_bytes->size() != expected) {
        return BadInput(t.name(), "raw content is " + std::to_string(raw_bytes->size()) + " bytes, expected " +
                                      std::to_string(expected) + " (" + std::to_string(wanted[index].elements) +
                                      " " + dtype->name + " elements)");
      }
    }
    plan.push_back({&t, *dtype, index, raw_bytes});
  }
  for (size_t index = 0; index < wanted.size(); ++index) {
    if (!seen[index]) return BadInput(wanted[index].name, "missing from the request");
  }
  return plan;
}

Result<std::vector<size_t>> PlanOutputs(const inference::ModelInferRequest& request,
                                        const std::vector<engine::TensorInfo>& outputs) {
  std::vector<size_t> plan;
  if (request.outputs_size() == 0) {
    for (size_t i = 0; i < outputs.size(); ++i) plan.push_back(i);
    return plan;
  }
  for (const auto& requested : request.outputs()) {
    size_t index = 0;
    while (index < outputs.size() && outputs[index].name != requested.name()) ++index;
    if (index == outputs.size()) {
      return Fail(ErrorCode::kInvalidArgument, "requested output '" + requested.name() +
                                                   "': the model has no such output (outputs: " + Names(outputs) + ")");
    }
    plan.push_back(index);
  }
  return plan;
}

template <typename T>
Status ConvertIntegers(const PlannedInput& in, const T& values, int64_t low, int64_t high, std::span<float> dst) {
  for (size_t j = 0; j < dst.size(); ++j) {
    const int64_t v = static_cast<int64_t>(values[static_cast<int>(j)]);
    if (v < low || v > high) {
      return BadInput(in.tensor->name(), "element " + std::to_string(j) + " is " + std::to_string(v) + ", outside " +
                                             in.dtype.name + " range " + std::to_string(low) + ".." + std::to_string(high));
    }
    dst[j] = static_cast<float>(v);  // exact: every int8/uint8 value is a float
  }
  return Ok();
}

Status FillTyped(const PlannedInput& in, std::span<float> dst) {
  const auto& c = in.tensor->contents();
  EDGE_TRY(CheckTypedCount(*in.tensor, in.dtype, dst.size()));  // checked in PlanInputs; the buffer is what counts
  switch (in.dtype.dtype) {
    case Dtype::kFp32:
      std::copy(c.fp32_contents().begin(), c.fp32_contents().end(), dst.begin());
      return Ok();
    case Dtype::kInt8:
      return ConvertIntegers(in, c.int_contents(), -128, 127, dst);
    case Dtype::kUint8:
      return ConvertIntegers(in, c.uint_contents(), 0, 255, dst);
  }
  return Fail(ErrorCode::kInternal, "unhandled datatype");
}

void FillRaw(const PlannedInput& in, std::span<float> dst) {
  const char* bytes = in.raw->data();
  switch (in.dtype.dtype) {
    case Dtype::kFp32: std::memcpy(dst.data(), bytes, dst.size_bytes()); return;
    case Dtype::kInt8:
      for (size_t j = 0; j < dst.size(); ++j) dst[j] = static_cast<float>(static_cast<int8_t>(bytes[j]));
      return;
    case Dtype::kUint8:
      for (size_t j = 0; j < dst.size(); ++j) dst[j] = static_cast<float>(static_cast<uint8_t>(bytes[j]));
      return;
  }
}

// NaN and Inf are not measurements: a model fed them answers garbage or a non-finite output,
// which would count as the model's error. They are refused here as the client's.
Status CheckFinite(const PlannedInput& in, std::span<const float> values) {
  for (size_t j = 0; j < values.size(); ++j) {
    if (!std::isfinite(values[j])) {
      return BadInput(in.tensor->name(), "element " + std::to_string(j) + " is " +
                                             (std::isnan(values[j]) ? "NaN" : values[j] > 0 ? "+Inf" : "-Inf") +
                                             "; inputs must be finite numbers");
    }
  }
  return Ok();
}

// Everything the client sent, checked and copied into the lease's input buffers. An error here
// is the client's (Stats::rejected), never the model's.
Status FillInputs(const std::vector<PlannedInput>& inputs, ContextLease& lease) {
  for (const PlannedInput& in : inputs) {
    auto dst = lease.input(in.model_index);
    if (in.raw) {
      FillRaw(in, dst);
    } else {
      EDGE_TRY(FillTyped(in, dst));
    }
    if (in.dtype.dtype == Dtype::kFp32) EDGE_TRY(CheckFinite(in, dst));
  }
  return Ok();
}

// `other`: the same tensor at another batch size, when the model is batch-dynamic. A dimension
// that differs between the two is the batch: -1, as the protocol writes a variable dimension.
void SetTensorMetadata(const engine::TensorInfo& info, const engine::TensorInfo* other,
                       inference::ModelMetadataResponse::TensorMetadata* out) {
  out->set_name(info.name);
  out->set_datatype("FP32");
  for (size_t d = 0; d < info.shape.size(); ++d) {
    const bool varies = other != nullptr && d < other->shape.size() && other->shape[d] != info.shape[d];
    out->add_shape(varies ? -1 : info.shape[d]);
  }
}

// A reactor that is already finished: every call here completes inline.
grpc::ServerUnaryReactor* Done(grpc::CallbackServerContext* ctx, const grpc::Status& status) {
  auto* reactor = ctx->DefaultReactor();
  reactor->Finish(status);
  return reactor;
}

}  // namespace

Status Infer(Registry& registry, const inference::ModelInferRequest& request,
             inference::ModelInferResponse& response) {
  EDGE_ASSIGN_OR_RETURN(auto served, registry.Find(request.model_name(), request.model_version()));
  const engine::Model& model = served->model();
  // Up to Run() every failure is the client's request: counted as rejected, not as an error.
  auto rejected = [&](const Error& e) -> Status {
    served->RecordRejected();
    return Fail(e);
  };
  auto batch = RequestBatch(request, model);
  if (!batch) return rejected(batch.error());
  // Batch 1 (every request to a fixed-shape model) reads the model's own shapes, copying nothing.
  const bool batched = *batch != 1;
  std::vector<engine::TensorInfo> inputs_at_batch;
  if (batched) inputs_at_batch = InputsAtBatch(model, *batch);
  auto inputs = PlanInputs(request, batched ? inputs_at_batch : model.inputs());
  if (!inputs) return rejected(inputs.error());
  // Only a well-formed request plans a batch size (once, then cached), before a context is taken.
  std::optional<engine::BatchShapes> shapes;
  if (batched) {
    auto planned = model.ShapesFor(*batch);
    if (!planned) return rejected(planned.error().Wrap("model " + served->model_name() + ":" + served->version()));
    shapes = std::move(*planned);
  }
  const std::vector<engine::TensorInfo>& output_infos = batched ? shapes->outputs : model.outputs();
  auto outputs = PlanOutputs(request, output_infos);
  if (!outputs) return rejected(outputs.error());

  ContextLease lease = served->Acquire();
  if (batched) lease.Bind(*batch, *shapes);
  if (auto s = FillInputs(*inputs, lease); !s) return rejected(s.error());
  // From here on a failure is the model's (an engine error, a non-finite output): Run() counts it.
  EDGE_TRY(lease.Run());

  const bool raw = request.raw_input_contents_size() > 0;
  response.set_model_name(served->model_name());
  response.set_model_version(served->version());
  response.set_id(request.id());
  for (size_t index : *outputs) {
    const engine::TensorInfo& info = output_infos[index];
    const auto values = lease.output(index);
    auto* out = response.add_outputs();
    out->set_name(info.name);
    out->set_datatype("FP32");
    for (int64_t d : info.shape) out->add_shape(d);
    if (raw) {
      response.add_raw_output_contents()->assign(reinterpret_cast<const char*>(values.data()), values.size_bytes());
    } else {
      out->mutable_contents()->mutable_fp32_contents()->Add(values.begin(), values.end());
    }
  }
  return Ok();
}

OipService::OipService(Registry& registry, std::string server_version, int workers)
    : registry_(registry), server_version_(std::move(server_version)), workers_(std::max(1, workers)) {}

OipService::~OipService() { JoinWorkers(); }

void OipService::JoinWorkers() { workers_.join(); }

grpc::ServerUnaryReactor* OipService::ServerLive(grpc::CallbackServerContext* ctx, const inference::ServerLiveRequest*,
                                                 inference::ServerLiveResponse* response) {
  response->set_live(true);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* OipService::ServerReady(grpc::CallbackServerContext* ctx, const inference::ServerReadyRequest*,
                                                  inference::ServerReadyResponse* response) {
  response->set_ready(!shutting_down_.load() && registry_.size() > 0);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* OipService::ModelReady(grpc::CallbackServerContext* ctx,
                                                 const inference::ModelReadyRequest* request,
                                                 inference::ModelReadyResponse* response) {
  response->set_ready(!shutting_down_.load() && registry_.Find(request->name(), request->version()).has_value());
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* OipService::ServerMetadata(grpc::CallbackServerContext* ctx,
                                                     const inference::ServerMetadataRequest*,
                                                     inference::ServerMetadataResponse* response) {
  response->set_name(kServerName);
  response->set_version(server_version_);
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* OipService::ModelMetadata(grpc::CallbackServerContext* ctx,
                                                    const inference::ModelMetadataRequest* request,
                                                    inference::ModelMetadataResponse* response) {
  auto served = registry_.Find(request->name(), request->version());
  if (!served) return Done(ctx, tls::ToGrpcStatus(served.error()));
  response->set_name((*served)->model_name());
  response->add_versions((*served)->version());
  response->set_platform(kPlatform);
  const engine::Model& model = (*served)->model();
  // A batch-dynamic model's shapes at batch 2 show which dimensions follow the batch.
  const engine::BatchShapes* two = (*served)->ShapesAtBatchTwo();
  for (size_t i = 0; i < model.inputs().size(); ++i) {
    SetTensorMetadata(model.inputs()[i], two ? &two->inputs[i] : nullptr, response->add_inputs());
  }
  for (size_t i = 0; i < model.outputs().size(); ++i) {
    SetTensorMetadata(model.outputs()[i], two ? &two->outputs[i] : nullptr, response->add_outputs());
  }
  return Done(ctx, grpc::Status::OK);
}

grpc::ServerUnaryReactor* OipService::ModelInfer(grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request_bytes,
                                                 grpc::ByteBuffer* response_bytes) {
  auto* reactor = ctx->DefaultReactor();
  // The request and response buffers live until Finish(); the server's Wait() returns only
  // after every reactor finished, and the workers are joined after that.
  boost::asio::post(workers_, [this, reactor, request_bytes, response_bytes] {
    reactor->Finish([&]() -> grpc::Status {
      inference::ModelInferRequest request;
      grpc::ByteBuffer copy(*request_bytes);  // Deserialize consumes its buffer; this copy shares the slices
      if (!grpc::SerializationTraits<inference::ModelInferRequest>::Deserialize(&copy, &request).ok())
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "the request body is not a valid inference.ModelInferRequest");
      inference::ModelInferResponse response;
      if (auto status = Infer(registry_, request, response); !status) return tls::ToGrpcStatus(status.error());
      bool own_buffer = false;
      return grpc::SerializationTraits<inference::ModelInferResponse>::Serialize(response, response_bytes, &own_buffer);
    }());
  });
  return reactor;
}

}  // namespace edge::serve
