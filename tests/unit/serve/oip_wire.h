// A standard-conforming Open Inference Protocol client written for the tests from the published
// protocol, NOT from our generated code: messages are encoded and decoded by hand with the
// published field numbers, and calls go through grpc::GenericStub by method path. If our .proto
// drifted from the published one (a renumbered field, a renamed package or service), these tests
// would fail where tests built on our own stubs would still pass.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>

namespace edge::serve::wire {

// ---- protobuf wire format ----

class Writer {
 public:
  Writer& Varint(int field, uint64_t value);
  Writer& Bytes(int field, std::string_view bytes);  // strings, bytes, sub-messages
  Writer& PackedVarints(int field, const std::vector<uint64_t>& values);
  Writer& PackedFloats(int field, const std::vector<float>& values);
  const std::string& str() const { return out_; }

 private:
  void Raw(uint64_t v);
  std::string out_;
};

struct Field {
  int number = 0;
  int wire_type = 0;      // 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32
  uint64_t varint = 0;    // wire type 0
  uint32_t fixed32 = 0;   // wire type 5
  std::string_view bytes; // wire type 2
};
// Splits a message into its fields; fails the test on malformed input.
std::vector<Field> Parse(std::string_view message);

// ---- the protocol's messages, as the tests need them ----

struct InputTensor {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  std::vector<float> fp32;        // InferTensorContents.fp32_contents (6)
  std::vector<int32_t> ints;      // InferTensorContents.int_contents (2)
  std::vector<uint32_t> uints;    // InferTensorContents.uint_contents (4)
  std::vector<double> fp64;       // InferTensorContents.fp64_contents (7)
};

struct InferRequest {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<InputTensor> inputs;
  std::vector<std::string> requested_outputs;
  std::vector<std::string> raw_input_contents;
};
std::string Encode(const InferRequest& request);
// ModelReadyRequest and ModelMetadataRequest share the layout name=1, version=2.
std::string EncodeNameVersion(const std::string& name, const std::string& version);

struct OutputTensor {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
  std::vector<float> fp32;
};
struct InferResponse {
  std::string model_name;
  std::string model_version;
  std::string id;
  std::vector<OutputTensor> outputs;
  std::vector<std::string> raw_output_contents;
};
InferResponse DecodeInferResponse(std::string_view body);

struct TensorMetadata {
  std::string name;
  std::string datatype;
  std::vector<int64_t> shape;
};
struct ModelMetadata {
  std::string name;
  std::vector<std::string> versions;
  std::string platform;
  std::vector<TensorMetadata> inputs;
  std::vector<TensorMetadata> outputs;
};
ModelMetadata DecodeModelMetadata(std::string_view body);

struct ServerMetadata {
  std::string name;
  std::string version;
  std::vector<std::string> extensions;
};
ServerMetadata DecodeServerMetadata(std::string_view body);

// Field 1 of ServerLive/ServerReady/ModelReady responses.
bool DecodeBoolField1(std::string_view body);

std::vector<float> FloatsFromRaw(const std::string& raw);
std::string RawFromFloats(const std::vector<float>& values);

// ---- transport ----

struct Reply {
  grpc::Status status;
  std::string body;
};

class Client {
 public:
  explicit Client(const std::string& target);  // e.g. "unix:/tmp/x/infer.sock"
  // Calls "/inference.GRPCInferenceService/<method>" with `body` as the request bytes.
  Reply Call(const std::string& method, const std::string& body);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

}  // namespace edge::serve::wire
