// The inference API as a standard Open Inference Protocol client sees it: hand-encoded
// messages (oip_wire.h) over a real unix socket, by method path.
#include <catch2/catch.hpp>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "tests/support/batch_dynamic.h"
#include "tests/unit/serve/serve_fixtures.h"

namespace edge::serve {
namespace {

using testing::MlpSample;
using testing::RunDirect;
using testing::ServingFixture;
using wire::InferRequest;
using wire::InputTensor;

InputTensor Fp32Input(const std::vector<float>& values) { return {"input", "FP32", {1, 64}, values, {}, {}, {}}; }

InferRequest MlpRequest(const std::vector<float>& values) {
  InferRequest r;
  r.model_name = "mlp";
  r.inputs.push_back(Fp32Input(values));
  return r;
}

using testing::Infer;

void RequireOk(const wire::Reply& reply) {
  INFO(reply.status.error_message());
  REQUIRE(reply.status.ok());
}

void RequireRejected(const wire::Reply& reply, grpc::StatusCode code, const std::string& needle) {
  INFO("status " << reply.status.error_code() << ": " << reply.status.error_message());
  CHECK(reply.status.error_code() == code);
  CHECK_THAT(reply.status.error_message(), Catch::Contains(needle));
}

TEST_CASE("oip: health and server metadata") {
  ServingFixture f("mlp", "3", testing::kMlpQuantized);
  auto live = f.client.Call("ServerLive", "");
  RequireOk(live);
  CHECK(wire::DecodeBoolField1(live.body));
  auto ready = f.client.Call("ServerReady", "");
  RequireOk(ready);
  CHECK(wire::DecodeBoolField1(ready.body));

  auto meta = f.client.Call("ServerMetadata", "");
  RequireOk(meta);
  auto server = wire::DecodeServerMetadata(meta.body);
  CHECK(server.name == "edge-agent");
  CHECK_FALSE(server.version.empty());
  CHECK(server.extensions.empty());

  f.registry.Remove("mlp");
  ready = f.client.Call("ServerReady", "");
  RequireOk(ready);
  CHECK_FALSE(wire::DecodeBoolField1(ready.body));  // nothing to serve
}

TEST_CASE("oip: model readiness and metadata") {
  ServingFixture f("mlp", "3", testing::kMlpQuantized);
  auto ready = [&](const std::string& name, const std::string& version) {
    auto reply = f.client.Call("ModelReady", wire::EncodeNameVersion(name, version));
    RequireOk(reply);
    return wire::DecodeBoolField1(reply.body);
  };
  CHECK(ready("mlp", ""));
  CHECK(ready("mlp", "3"));
  CHECK_FALSE(ready("mlp", "2"));
  CHECK_FALSE(ready("nope", ""));

  auto reply = f.client.Call("ModelMetadata", wire::EncodeNameVersion("mlp", ""));
  RequireOk(reply);
  auto meta = wire::DecodeModelMetadata(reply.body);
  CHECK(meta.name == "mlp");
  CHECK(meta.versions == std::vector<std::string>{"3"});
  CHECK(meta.platform == "edgefleet_onnx");
  REQUIRE(meta.inputs.size() == 1);
  CHECK(meta.inputs[0].name == "input");
  CHECK(meta.inputs[0].datatype == "FP32");
  CHECK(meta.inputs[0].shape == std::vector<int64_t>{1, 64});
  REQUIRE(meta.outputs.size() == 1);
  CHECK(meta.outputs[0].name == "logits");
  CHECK(meta.outputs[0].datatype == "FP32");
  CHECK(meta.outputs[0].shape == std::vector<int64_t>{1, 4});

  RequireRejected(f.client.Call("ModelMetadata", wire::EncodeNameVersion("nope", "")),
                  grpc::StatusCode::NOT_FOUND, "'nope' is not served");
  RequireRejected(f.client.Call("ModelMetadata", wire::EncodeNameVersion("mlp", "4")),
                  grpc::StatusCode::NOT_FOUND, "'4' is not served");
}

TEST_CASE("oip: ModelInfer with fp32_contents equals a direct engine run") {
  ServingFixture f("mlp", "3", testing::kMlpQuantized);
  for (int row = 0; row < 4; ++row) {
    const auto input = MlpSample(row);
    auto request = MlpRequest(input);
    request.id = "req-" + std::to_string(row);
    auto reply = Infer(f, request);
    RequireOk(reply);
    auto response = wire::DecodeInferResponse(reply.body);
    CHECK(response.model_name == "mlp");
    CHECK(response.model_version == "3");
    CHECK(response.id == request.id);
    CHECK(response.raw_output_contents.empty());
    REQUIRE(response.outputs.size() == 1);
    CHECK(response.outputs[0].name == "logits");
    CHECK(response.outputs[0].datatype == "FP32");
    CHECK(response.outputs[0].shape == std::vector<int64_t>{1, 4});
    CHECK(response.outputs[0].fp32 == RunDirect(f.model, input));
  }
  auto stats = *f.registry.Snapshot("mlp");
  CHECK(stats.inferences == 4);
  CHECK(stats.errors == 0);
}

TEST_CASE("oip: ModelInfer with raw_input_contents answers raw and names a requested output") {
  ServingFixture f("mlp", "3", testing::kMlpQuantized);
  const auto input = MlpSample(2);
  InferRequest request;
  request.model_name = "mlp";
  request.model_version = "3";
  request.inputs.push_back({"input", "FP32", {1, 64}, {}, {}, {}, {}});
  request.raw_input_contents.push_back(wire::RawFromFloats(input));
  request.requested_outputs.push_back("logits");
  auto reply = Infer(f, request);
  RequireOk(reply);
  auto response = wire::DecodeInferResponse(reply.body);
  CHECK(response.model_version == "3");
  REQUIRE(response.outputs.size() == 1);
  CHECK(response.outputs[0].fp32.empty());
  REQUIRE(response.raw_output_contents.size() == 1);
  CHECK(wire::FloatsFromRaw(response.raw_output_contents[0]) == RunDirect(f.model, input));
}

TEST_CASE("oip: INT8 and UINT8 inputs are converted to float exactly") {
  ServingFixture f("mlp", "3", testing::kMlpFloat);
  std::vector<int32_t> int8_values;
  std::vector<uint32_t> uint8_values;
  std::vector<float> as_int8, as_uint8;
  for (int i = 0; i < 64; ++i) {
    int8_values.push_back(i % 2 ? -128 + i : 127 - i);
    uint8_values.push_back(static_cast<uint32_t>(i * 4 % 256 == 0 ? 255 : i * 4 % 256));
    as_int8.push_back(static_cast<float>(int8_values.back()) );
    as_uint8.push_back(static_cast<float>(uint8_values.back()));
  }
  SECTION("typed int_contents / uint_contents") {
    InferRequest r;
    r.model_name = "mlp";
    r.inputs.push_back({"input", "INT8", {1, 64}, {}, int8_values, {}, {}});
    auto reply = Infer(f, r);
    RequireOk(reply);
    CHECK(wire::DecodeInferResponse(reply.body).outputs.at(0).fp32 == RunDirect(f.model, as_int8));

    r.inputs[0] = {"input", "UINT8", {1, 64}, {}, {}, uint8_values, {}};
    reply = Infer(f, r);
    RequireOk(reply);
    CHECK(wire::DecodeInferResponse(reply.body).outputs.at(0).fp32 == RunDirect(f.model, as_uint8));
  }
  SECTION("raw bytes") {
    InferRequest r;
    r.model_name = "mlp";
    r.inputs.push_back({"input", "INT8", {1, 64}, {}, {}, {}, {}});
    std::string raw;
    for (int32_t v : int8_values) raw.push_back(static_cast<char>(static_cast<int8_t>(v)));
    r.raw_input_contents.push_back(raw);
    auto reply = Infer(f, r);
    RequireOk(reply);
    CHECK(wire::FloatsFromRaw(wire::DecodeInferResponse(reply.body).raw_output_contents.at(0)) ==
          RunDirect(f.model, as_int8));

    r.inputs[0].datatype = "UINT8";
    raw.clear();
    for (uint32_t v : uint8_values) raw.push_back(static_cast<char>(static_cast<uint8_t>(v)));
    r.raw_input_contents[0] = raw;
    reply = Infer(f, r);
    RequireOk(reply);
    CHECK(wire::FloatsFromRaw(wire::DecodeInferResponse(reply.body).raw_output_contents.at(0)) ==
          RunDirect(f.model, as_uint8));
  }
  SECTION("out-of-range integers are refused") {
    InferRequest r;
    r.model_name = "mlp";
    auto values = int8_values;
    values[5] = 200;
    r.inputs.push_back({"input", "INT8", {1, 64}, {}, values, {}, {}});
    RequireRejected(Infer(f, r), grpc::StatusCode::INVALID_ARGUMENT, "element 5 is 200, outside INT8 range");
  }
}

TEST_CASE("oip: malformed requests are rejected with the right code") {
  ServingFixture f("mlp", "3", testing::kMlpQuantized, 64 * 1024);
  const auto input = MlpSample(0);
  auto request = MlpRequest(input);

  SECTION("unknown model") {
    request.model_name = "nope";
    RequireRejected(Infer(f, request), grpc::StatusCode::NOT_FOUND, "model 'nope' is not served");
  }
  SECTION("unknown version") {
    request.model_version = "2";
    RequireRejected(Infer(f, request), grpc::StatusCode::NOT_FOUND, "version '2' is not served (serving '3')");
  }
  SECTION("wrong shape, batch dimension included") {
    request.inputs[0].shape = {64};
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "shape [64] differs from the model's [1,64]");
    request.inputs[0].shape = {2, 64};
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "shape [2,64]");
  }
  SECTION("unsupported datatypes") {
    request.inputs[0] = {"input", "FP64", {1, 64}, {}, {}, {}, std::vector<double>(64, 0.5)};
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "datatype 'FP64' is not accepted");
    request.inputs[0] = {"input", "BYTES", {1, 64}, {}, {}, {}, {}};
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "datatype 'BYTES' is not accepted");
  }
  SECTION("typed contents in the wrong field or with the wrong count") {
    request.inputs[0] = {"input", "FP32", {1, 64}, {}, std::vector<int32_t>(64, 1), {}, {}};
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "needs 64 values in contents.fp32_contents, got 0");
    request.inputs[0] = Fp32Input(std::vector<float>(63, 0.f));
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "got 63");
  }
  SECTION("missing input") {
    request.inputs.clear();
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "input 'input': missing");
  }
  SECTION("duplicate input") {
    request.inputs.push_back(Fp32Input(input));
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "given more than once");
  }
  SECTION("unknown input") {
    request.inputs.push_back({"extra", "FP32", {1, 64}, input, {}, {}, {}});
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "input 'extra': the model has no such input");
  }
  SECTION("unknown requested output") {
    request.requested_outputs.push_back("probabilities");
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "requested output 'probabilities'");
  }
  SECTION("raw content of the wrong byte size") {
    request.inputs[0].fp32.clear();
    request.raw_input_contents.push_back(std::string(255, '\0'));
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "raw content is 255 bytes, expected 256");
  }
  SECTION("raw and typed contents mixed") {
    request.raw_input_contents.push_back(wire::RawFromFloats(input));  // input 0 keeps its fp32_contents
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "has typed contents although the request uses raw");
  }
  SECTION("raw entries not one per input") {
    request.inputs[0].fp32.clear();
    request.raw_input_contents = {wire::RawFromFloats(input), wire::RawFromFloats(input)};
    RequireRejected(Infer(f, request), grpc::StatusCode::INVALID_ARGUMENT, "raw_input_contents has 2 entries for 1 inputs");
  }
  SECTION("oversized payload") {
    request.inputs[0].fp32.clear();
    request.raw_input_contents.push_back(std::string(100 * 1024, '\0'));
    auto reply = Infer(f, request);
    CHECK(reply.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  }
  SECTION("bytes that are not a protobuf message") {
    RequireRejected(f.client.Call("ModelInfer", std::string("\xff\xff\xff\xff garbage", 12)),
                    grpc::StatusCode::INVALID_ARGUMENT, "not a valid inference.ModelInferRequest");
  }
  // Client errors are not model errors: probation must not see them. The model never ran.
  auto stats = *f.registry.Snapshot("mlp");
  CHECK(stats.errors == 0);
  CHECK(stats.inferences == 0);
}

TEST_CASE("oip: each request refused for its input counts as rejected, not as an error") {
  ServingFixture f("mlp", "3", testing::kMlpFloat);
  auto bad_shape = MlpRequest(MlpSample(0));
  bad_shape.inputs[0].shape = {64};
  RequireRejected(Infer(f, bad_shape), grpc::StatusCode::INVALID_ARGUMENT, "shape [64]");
  auto bad_dtype = MlpRequest(MlpSample(0));
  bad_dtype.inputs[0].datatype = "FP16";
  RequireRejected(Infer(f, bad_dtype), grpc::StatusCode::INVALID_ARGUMENT, "datatype 'FP16'");
  auto bad_name = MlpRequest(MlpSample(0));
  bad_name.inputs[0].name = "x";
  RequireRejected(Infer(f, bad_name), grpc::StatusCode::INVALID_ARGUMENT, "the model has no such input");
  RequireOk(Infer(f, MlpRequest(MlpSample(0))));
  auto stats = *f.registry.Snapshot("mlp");
  CHECK(stats.rejected == 3);
  CHECK(stats.inferences == 1);
  CHECK(stats.errors == 0);
}

TEST_CASE("oip: NaN or Inf in an FP32 input is the client's error: INVALID_ARGUMENT, never run") {
  ServingFixture f("mlp", "3", testing::kMlpFloat);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  auto with = [](float v, size_t at) {
    auto values = MlpSample(1);
    values[at] = v;
    return values;
  };
  RequireRejected(Infer(f, MlpRequest(with(nan, 3))), grpc::StatusCode::INVALID_ARGUMENT,
                  "input 'input': element 3 is NaN; inputs must be finite");
  RequireRejected(Infer(f, MlpRequest(with(inf, 0))), grpc::StatusCode::INVALID_ARGUMENT, "element 0 is +Inf");
  RequireRejected(Infer(f, MlpRequest(with(-inf, 63))), grpc::StatusCode::INVALID_ARGUMENT, "element 63 is -Inf");
  RequireRejected(Infer(f, MlpRequest(std::vector<float>(64, nan))), grpc::StatusCode::INVALID_ARGUMENT, "is NaN");
  // The same through raw_input_contents, the form edgectl infer sends.
  InferRequest raw;
  raw.model_name = "mlp";
  raw.inputs.push_back({"input", "FP32", {1, 64}, {}, {}, {}, {}});
  raw.raw_input_contents.push_back(wire::RawFromFloats(with(nan, 10)));
  RequireRejected(Infer(f, raw), grpc::StatusCode::INVALID_ARGUMENT, "element 10 is NaN");
  // A context that saw NaN is given back clean: the next good request answers as before.
  auto ok = Infer(f, MlpRequest(MlpSample(1)));
  RequireOk(ok);
  CHECK(wire::DecodeInferResponse(ok.body).outputs[0].fp32 == RunDirect(f.model, MlpSample(1)));

  auto stats = *f.registry.Snapshot("mlp");
  CHECK(stats.rejected == 5);
  CHECK(stats.inferences == 1);
  CHECK(stats.errors == 0);
}

TEST_CASE("oip: a non-finite model output is INTERNAL and counts as an error") {
  ServingFixture f("mlp", "3", testing::kMlpFloat);
  // Finite input that the fp32 MLP overflows on (3e38 per element): the model's own failure.
  auto reply = Infer(f, MlpRequest(std::vector<float>(64, 3e38f)));
  RequireRejected(reply, grpc::StatusCode::INTERNAL, "model mlp:3 produced a non-finite output");
  auto stats = *f.registry.Snapshot("mlp");
  CHECK(stats.inferences == 1);
  CHECK(stats.errors == 1);
  CHECK(stats.rejected == 0);
}

}  // namespace
}  // namespace edge::serve

namespace edge::serve {
namespace {

// The zoo MLP with its batch axis symbolic, served next to the fixed one as "mlp_n".
std::shared_ptr<const engine::Model> BatchDynamicMlp() {
  const std::string path = testing::ZooPath(testing::kMlpQuantized);
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto dynamic = edge::testing::MakeBatchDynamic(bytes);
  REQUIRE(dynamic.has_value());
  auto model = engine::Model::LoadMemory({reinterpret_cast<const uint8_t*>(dynamic->data()), dynamic->size()});
  REQUIRE(model.has_value());
  return *model;
}

InferRequest BatchRequest(int64_t batch, int64_t width = 64) {
  InferRequest r;
  r.model_name = "mlp_n";
  InputTensor t{"input", "FP32", {batch, width}, {}, {}, {}, {}};
  for (int64_t row = 0; row < batch; ++row) {
    auto sample = MlpSample(static_cast<int>(row % 4));  // the file has 4 rows
    sample.resize(static_cast<size_t>(width));
    t.fp32.insert(t.fp32.end(), sample.begin(), sample.end());
  }
  r.inputs.push_back(t);
  return r;
}

TEST_CASE("oip: a batch-dynamic model answers a batch of N in one call") {
  ServingFixture f("mlp", "3", testing::kMlpQuantized);
  f.registry.Activate("mlp_n", "1", BatchDynamicMlp());

  auto meta = wire::DecodeModelMetadata(f.client.Call("ModelMetadata", wire::EncodeNameVersion("mlp_n", "")).body);
  REQUIRE(meta.inputs.size() == 1);
  CHECK(meta.inputs[0].shape == std::vector<int64_t>{-1, 64});
  REQUIRE(meta.outputs.size() == 1);
  CHECK(meta.outputs[0].shape == std::vector<int64_t>{-1, 4});

  for (int64_t batch : {8, 1, 3, 8}) {
    INFO("batch " << batch);
    auto reply = Infer(f, BatchRequest(batch));
    RequireOk(reply);
    auto response = wire::DecodeInferResponse(reply.body);
    REQUIRE(response.outputs.size() == 1);
    CHECK(response.outputs[0].shape == std::vector<int64_t>{batch, 4});
    std::vector<float> expected;
    for (int64_t row = 0; row < batch; ++row) {
      const auto one = RunDirect(f.model, MlpSample(static_cast<int>(row % 4)));
      expected.insert(expected.end(), one.begin(), one.end());
    }
    CHECK(response.outputs[0].fp32 == expected);
  }
  CHECK(f.registry.Snapshot("mlp_n")->inferences == 4);

  RequireRejected(Infer(f, BatchRequest(0)), grpc::StatusCode::INVALID_ARGUMENT,
                  "input 'input': batch 0 is outside 1..256 (the model's maximum batch)");
  RequireRejected(Infer(f, BatchRequest(4, 63)), grpc::StatusCode::INVALID_ARGUMENT,
                  "input 'input': shape [4,63] differs from the model's [4,64]");
  auto huge = BatchRequest(1);
  huge.inputs[0].shape[0] = 100000;
  RequireRejected(Infer(f, huge), grpc::StatusCode::INVALID_ARGUMENT, "batch 100000 is outside 1..256");
  // The fixed-shape model still takes only its own shape.
  auto fixed = BatchRequest(4);
  fixed.model_name = "mlp";
  RequireRejected(Infer(f, fixed), grpc::StatusCode::INVALID_ARGUMENT, "shape [4,64] differs from the model's [1,64]");
  CHECK(f.registry.Snapshot("mlp_n")->errors == 0);
  CHECK(f.registry.Snapshot("mlp_n")->rejected == 3);
}

}  // namespace
}  // namespace edge::serve
