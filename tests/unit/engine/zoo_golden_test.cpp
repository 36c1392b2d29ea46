// Every zoo model, fp32 and QDQ int8, against ONNX Runtime's outputs on the same inputs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <span>

#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {


TEST_CASE("fp32 zoo models match ONNX Runtime within 1e-4 relative", "[engine][zoo]") {
  for (const auto& name : ZooModels()) {
    DYNAMIC_SECTION(name) {
      auto model = LoadOrDie(ZooPath(name + ".onnx"));
      CHECK_FALSE(model->is_quantized());
      const NpyArray input = ReadOrDie(ZooPath(name + ".input.npy"));
      const NpyArray golden = ReadOrDie(ZooPath(name + ".golden.npy"));
      ExecutionContext ctx(model);
      int64_t per = 0;
      const auto out = RunSamples(ctx, input, &per);
      REQUIRE(out.size() == golden.data.size());
      float scale = 0.0f;
      for (float g : golden.data) scale = std::max(scale, std::abs(g));
      for (size_t i = 0; i < out.size(); ++i) {
        INFO(name << " element " << i << ": engine " << out[i] << ", ORT " << golden.data[i]);
        // relative to the element, with a floor relative to the output's magnitude
        CHECK(std::abs(out[i] - golden.data[i]) <= 1e-4f * std::max(std::abs(golden.data[i]), 0.01f * scale));
      }
    }
  }
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

TEST_CASE("QDQ zoo models match ONNX Runtime within one int8 step", "[engine][zoo][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  for (const auto& name : ZooModels()) {
    DYNAMIC_SECTION(name) {
      auto model = LoadOrDie(ZooPath(name + ".qdq.onnx"));
      CHECK(model->is_quantized());
      const float step = model->outputs().at(0).quant_step;
      REQUIRE(step > 0.0f);
      const NpyArray input = ReadOrDie(ZooPath(name + ".input.npy"));
      const NpyArray golden = ReadOrDie(ZooPath(name + ".qdq.golden.npy"));
      for (KernelTier tier : tiers) {
        ExecutionContext ctx(model, tier);
        int64_t per = 0;
        const auto out = RunSamples(ctx, input, &per);
        REQUIRE(out.size() == golden.data.size());
        for (size_t i = 0; i < out.size(); ++i) {
          INFO(name << " tier " << KernelTierName(tier) << " element " << i << ": engine " << out[i]
                    << ", ORT " << golden.data[i] << ", step " << step);
          CHECK(std::abs(out[i] - golden.data[i]) <= step * 1.001f);
        }
      }
    }
  }
}

TEST_CASE("QDQ zoo models read their input in place: the copied input's bytes, no float past its ends",
          "[engine][zoo][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  for (const auto& name : ZooModels()) {
    DYNAMIC_SECTION(name) {
      auto model = LoadOrDie(ZooPath(name + ".qdq.onnx"));
      LoadOptions copied;
      copied.keep_all_tensors = true;  // every tensor in the arena: the input copied there
      const std::string bytes = FileBytes(ZooPath(name + ".qdq.onnx"));
      auto plain = Model::LoadMemory(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), copied);
      REQUIRE(plain.has_value());
      const auto steps = model->StepSummary();
      REQUIRE(!steps.empty());
      CHECK(steps.front().find("input read in place") != std::string::npos);
      const NpyArray input = ReadOrDie(ZooPath(name + ".input.npy"));
      const size_t per = input.data.size() / static_cast<size_t>(input.shape[0]);
      const size_t out_count = static_cast<size_t>(model->outputs().at(0).elements);
      for (KernelTier tier : tiers) {
        std::vector<float> want(out_count);
        ExecutionContext copy_ctx(*plain, tier);
        const float* in0[] = {input.data.data()};
        float* out0[] = {want.data()};
        REQUIRE(copy_ctx.Run(in0, out0).has_value());
        for (bool at_end : {true, false}) {
          const GuardedBuffer guarded(per * sizeof(float), at_end, input.data.data());
          std::vector<float> got(out_count);
          ExecutionContext ctx(model, tier);
          const float* in1[] = {guarded.as<const float>()};
          float* out1[] = {got.data()};
          REQUIRE(ctx.Run(in1, out1).has_value());
          INFO(name << " tier " << KernelTierName(tier) << (at_end ? " guard after" : " guard before"));
          CHECK(std::memcmp(got.data(), want.data(), out_count * sizeof(float)) == 0);
          CHECK(std::memcmp(guarded.as<const float>(), input.data.data(), per * sizeof(float)) == 0);  // untouched
        }
      }
    }
  }
}

// op_mix is an operator-coverage graph whose softmax output is not a class score; its task
// metric is the max abs error relative to the output range (documented in docs/engine.md).
TEST_CASE("quantized zoo models keep top-1 agreement with fp32 on held-out inputs", "[engine][zoo]") {
  for (const auto& name : ZooModels()) {
    if (name == "op_mix") continue;
    DYNAMIC_SECTION(name) {
      auto fp32 = LoadOrDie(ZooPath(name + ".onnx"));
      auto int8 = LoadOrDie(ZooPath(name + ".qdq.onnx"));
      const NpyArray evals = ReadOrDie(ZooPath(name + ".eval.npy"));
      ExecutionContext a(fp32), b(int8);
      int64_t per = 0;
      const auto oa = RunSamples(a, evals, &per);
      const auto ob = RunSamples(b, evals, &per);
      const int64_t samples = evals.shape[0];
      int64_t agree = 0;
      for (int64_t s = 0; s < samples; ++s) {
        auto ia = std::max_element(oa.begin() + s * per, oa.begin() + (s + 1) * per) - (oa.begin() + s * per);
        auto ib = std::max_element(ob.begin() + s * per, ob.begin() + (s + 1) * per) - (ob.begin() + s * per);
        agree += ia == ib ? 1 : 0;
      }
      INFO(name << ": " << agree << " of " << samples << " agree");
      CHECK(double(agree) >= 0.99 * double(samples));
    }
  }
}

TEST_CASE("op_mix int8 output stays close to fp32", "[engine][zoo]") {
  auto fp32 = LoadOrDie(ZooPath("op_mix.onnx"));
  auto int8 = LoadOrDie(ZooPath("op_mix.qdq.onnx"));
  const NpyArray evals = ReadOrDie(ZooPath("op_mix.eval.npy"));
  ExecutionContext a(fp32), b(int8);
  int64_t per = 0;
  const auto oa = RunSamples(a, evals, &per);
  const auto ob = RunSamples(b, evals, &per);
  float range = 0.0f, err = 0.0f;
  for (size_t i = 0; i < oa.size(); ++i) {
    range = std::max(range, std::abs(oa[i]));
    err = std::max(err, std::abs(oa[i] - ob[i]));
  }
  INFO("max abs error " << err << " of output range " << range);
  CHECK(err <= 0.05f * range);
}

}  // namespace
}  // namespace edge::engine::testing
