// Hostile review of batches over the inference API (branch hostile-batch). Models come from
// EDGE_HOSTILE_DIR, written by `edge_engine_tests "[.][hostile-batch]"` and edge_engine_bench batchify
// (docs/testing.md). A failing CHECK is a finding (docs/testing.md).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "tests/support/batch_dynamic.h"
#include "tests/unit/serve/serve_fixtures.h"

namespace edge::serve {
namespace {

using testing::ServingFixture;
using wire::InferRequest;
using wire::InputTensor;

// Written by edge_engine_tests "[hostile-batch]" (EDGE_HOSTILE_DIR, or /tmp/edge-hostile-batch).
std::string Hostile(const std::string& file) {
  const char* dir = std::getenv("EDGE_HOSTILE_DIR");
  return std::string(dir != nullptr ? dir : "/tmp/edge-hostile-batch") + "/" + file;
}

std::shared_ptr<const engine::Model> LoadHostile(const std::string& file) {
  if (file == "mlp_n.onnx") {  // the zoo MLP made batch-dynamic, written here if missing
    std::filesystem::create_directories(std::filesystem::path(Hostile(file)).parent_path());
    REQUIRE(edge::testing::MakeBatchDynamicFile(testing::ZooPath(testing::kMlpQuantized), Hostile(file)).has_value());
  }
  auto m = engine::Model::LoadFile(Hostile(file));
  INFO(file << ": " << (m ? "" : m.error().message));
  REQUIRE(m.has_value());
  return *m;
}

using testing::Infer;

std::string Status(const wire::Reply& r) {
  return std::to_string(r.status.error_code()) + " " + r.status.error_message();
}

InputTensor Tensor(const std::string& name, std::vector<int64_t> shape, float fill = 1.0f) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return {name, "FP32", shape, std::vector<float>(static_cast<size_t>(std::max<int64_t>(n, 0)), fill), {}, {}, {}};
}

TEST_CASE("S1 two batched inputs: the first batched input missing", "[hostile-batch]") {
  ServingFixture f("mlp", "1", testing::kMlpQuantized);
  f.registry.Activate("two", "1", LoadHostile("two_inputs.onnx"));
  InferRequest r;
  r.model_name = "two";
  r.inputs.push_back(Tensor("b", {4, 3}));  // 'a' is missing
  auto reply = Infer(f, r);
  std::printf("S1 missing 'a', 'b' at [4,3]: %s\n", Status(reply).c_str());
  CHECK_THAT(reply.status.error_message(), Catch::Contains("'a'") && Catch::Contains("missing"));

  InferRequest ok;
  ok.model_name = "two";
  ok.inputs.push_back(Tensor("b", {4, 3}, 2.0f));
  ok.inputs.push_back(Tensor("a", {4, 3}, 1.0f));
  auto good = Infer(f, ok);
  std::printf("S1 'b' then 'a' at [4,3]: %s\n", Status(good).c_str());
  CHECK(good.status.ok());

  InferRequest mismatch;
  mismatch.model_name = "two";
  mismatch.inputs.push_back(Tensor("a", {4, 3}));
  mismatch.inputs.push_back(Tensor("b", {2, 3}));
  std::printf("S1 'a' [4,3], 'b' [2,3]: %s\n", Status(Infer(f, mismatch)).c_str());
}

TEST_CASE("S2 an output that does not follow the batch", "[.][hostile-batch]") {
  ServingFixture f("mlp", "1", testing::kMlpQuantized);
  f.registry.Activate("reduce", "1", LoadHostile("reduce_batch.onnx"));
  f.registry.Activate("transpose", "1", LoadHostile("transpose_out.onnx"));
  auto meta = wire::DecodeModelMetadata(f.client.Call("ModelMetadata", wire::EncodeNameVersion("reduce", "")).body);
  REQUIRE(meta.outputs.size() == 1);
  std::printf("S2 reduce metadata: input [%lld,%lld] output [%lld,%lld]\n", (long long)meta.inputs[0].shape[0],
              (long long)meta.inputs[0].shape[1], (long long)meta.outputs[0].shape[0], (long long)meta.outputs[0].shape[1]);
  InferRequest r;
  r.model_name = "reduce";
  r.inputs.push_back(Tensor("x", {4, 3}));
  auto reply = Infer(f, r);
  REQUIRE(reply.status.ok());
  auto resp = wire::DecodeInferResponse(reply.body);
  std::printf("S2 reduce at batch 4: output shape [%lld,%lld]\n", (long long)resp.outputs[0].shape[0],
              (long long)resp.outputs[0].shape[1]);
  // docs/inference-api.md: outputs have the shapes the model gives at batch N (a mean over the batch: [1,3]).
  CHECK(resp.outputs[0].shape == std::vector<int64_t>{1, 3});

  auto tmeta = wire::DecodeModelMetadata(f.client.Call("ModelMetadata", wire::EncodeNameVersion("transpose", "")).body);
  std::printf("S2 transpose metadata output [%lld,%lld]\n", (long long)tmeta.outputs[0].shape[0],
              (long long)tmeta.outputs[0].shape[1]);
}

TEST_CASE("S3 shape-only requests force a plan per batch size", "[.][hostile-batch][timing]") {
  ServingFixture f("mlp", "1", testing::kMlpQuantized);
  f.registry.Activate("mnv2", "1", LoadHostile("mobilenet_v2_block.qdq_n.onnx"));
  const auto keep = LoadHostile("mobilenet_v2_block.qdq_n.onnx");
  const engine::TensorInfo in = keep->inputs()[0];
  // A valid batch-2 request, timed warm.
  auto valid = [&](int64_t batch) {
    std::vector<int64_t> shape = in.shape;
    shape[0] = batch;
    InferRequest r;
    r.model_name = "mnv2";
    r.inputs.push_back(Tensor(in.name, shape, 0.5f));
    return r;
  };
  auto t0 = std::chrono::steady_clock::now();
  for (int k = 0; k < 5; ++k) REQUIRE(Infer(f, valid(2)).status.ok());
  const double warm_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 5;
  // Hostile: the right name, a batch in the leading dimension, the wrong rank and no data.
  int rejected = 0;
  t0 = std::chrono::steady_clock::now();
  for (int64_t batch = 3; batch <= 66; ++batch) {
    InferRequest r;
    r.model_name = "mnv2";
    r.inputs.push_back({in.name, "FP32", {batch}, {}, {}, {}, {}});
    auto reply = Infer(f, r);
    rejected += reply.status.ok() ? 0 : 1;
  }
  const double hostile_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 64;
  t0 = std::chrono::steady_clock::now();
  REQUIRE(Infer(f, valid(2)).status.ok());
  const double after_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  InferRequest probe;
  probe.model_name = "mnv2";
  probe.inputs.push_back({in.name, "FP32", {66}, {}, {}, {}, {}});
  std::printf("S3 mobilenet_v2_block.qdq: valid batch-2 request %.2f ms warm; 64 rejected %zu-byte shape-only requests "
              "%.2f ms each; the next valid batch-2 request %.2f ms (its plan was evicted)\n",
              warm_ms, wire::Encode(probe).size(), hostile_ms, after_ms);
  CHECK(rejected == 64);
  // Expected: a request whose shape cannot match is refused before any planning (cheap).
  CHECK(hostile_ms < warm_ms);
}

TEST_CASE("S4 non-finite values in a later sample of a batch are reported", "[.][hostile-batch]") {
  ServingFixture f("mlp", "1", testing::kMlpQuantized);
  f.registry.Activate("rank1", "1", LoadHostile("rank1_batched.onnx"));
  InferRequest r;
  r.model_name = "rank1";
  r.inputs.push_back({"v", "FP32", {3}, {1.0f, 2.0f, std::numeric_limits<float>::infinity()}, {}, {}, {}});
  auto reply = Infer(f, r);
  std::printf("S4 rank-1 batch with inf in sample 3: %s\n", Status(reply).c_str());
  CHECK_FALSE(reply.status.ok());
  InferRequest scalar;
  scalar.model_name = "rank1";
  scalar.inputs.push_back({"v", "FP32", {}, {1.0f}, {}, {}, {}});
  std::printf("S4 shape []: %s\n", Status(Infer(f, scalar)).c_str());
  InferRequest neg;
  neg.model_name = "rank1";
  neg.inputs.push_back({"v", "FP32", {-3}, {1.0f}, {}, {}, {}});
  std::printf("S4 shape [-3]: %s\n", Status(Infer(f, neg)).c_str());
  InferRequest huge;
  huge.model_name = "rank1";
  huge.inputs.push_back({"v", "FP32", {int64_t{1} << 40}, {1.0f}, {}, {}, {}});
  std::printf("S4 shape [2^40]: %s\n", Status(Infer(f, huge)).c_str());
}

}  // namespace
}  // namespace edge::serve

#include <atomic>
#include <thread>

namespace edge::serve {
namespace {

TEST_CASE("S5 concurrent requests of many batch sizes (evicting each other's plans)", "[.][hostile-batch][stress]") {
  ServingFixture f("mlp", "1", testing::kMlpQuantized, 1 << 20);
  f.registry.Activate("mlp_n", "1", LoadHostile("mlp_n.onnx"));
  std::atomic<int> bad{0}, ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      wire::Client client("unix:" + f.socket_path);
      for (int round = 0; round < 40; ++round) {
        const int64_t batch = 1 + (t * 7 + round * 3) % 12;
        InferRequest r;
        r.model_name = "mlp_n";
        InputTensor in{"input", "FP32", {batch, 64}, {}, {}, {}, {}};
        for (int64_t row = 0; row < batch; ++row) {
          auto s = testing::MlpSample(static_cast<int>(row % 4));
          in.fp32.insert(in.fp32.end(), s.begin(), s.end());
        }
        r.inputs.push_back(in);
        auto reply = client.Call("ModelInfer", wire::Encode(r));
        if (!reply.status.ok()) {
          ++bad;
          continue;
        }
        auto resp = wire::DecodeInferResponse(reply.body);
        std::vector<float> expected;
        for (int64_t row = 0; row < batch; ++row) {
          auto one = testing::RunDirect(f.model, testing::MlpSample(static_cast<int>(row % 4)));
          expected.insert(expected.end(), one.begin(), one.end());
        }
        if (resp.outputs.size() == 1 && resp.outputs[0].fp32 == expected) {
          ++ok;
        } else {
          ++bad;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(bad == 0);
  CHECK(ok == 240);
}

}  // namespace
}  // namespace edge::serve

namespace edge::serve {
namespace {

TEST_CASE("S6 malformed 20-byte requests plan batch sizes and evict the plans real clients use", "[hostile-batch]") {
  ServingFixture f("mlp", "1", testing::kMlpQuantized);
  auto model = LoadHostile("mlp_n.onnx");
  f.registry.Activate("mlp_n", "1", model);
  InferRequest good;
  good.model_name = "mlp_n";
  good.inputs.push_back(Tensor("input", {2, 64}, 0.25f));
  REQUIRE(Infer(f, good).status.ok());
  const auto before = model->PlanFor(2)->get();
  for (int64_t batch : {200, 201, 202, 203}) {
    InferRequest r;
    r.model_name = "mlp_n";
    r.inputs.push_back({"input", "FP32", {batch}, {}, {}, {}, {}});  // wrong rank, no data
    auto reply = Infer(f, r);
    std::printf("S6 shape-only [%lld] (%zu bytes): %s\n", static_cast<long long>(batch), wire::Encode(r).size(),
                Status(reply).c_str());
  }
  const auto after = model->PlanFor(2)->get();
  std::printf("S6 plan of batch 2 %s by 4 rejected requests\n", before == after ? "survived" : "was evicted");
  CHECK(before == after);
}

}  // namespace
}  // namespace edge::serve
