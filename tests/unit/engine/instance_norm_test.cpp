// InstanceNormalization: float against the definition computed here in double, the GroupNorm
// pattern PyTorch exports (Reshape -> InstanceNormalization -> Reshape -> Mul -> Add) between
// QDQ pairs as one int8 step within a step of that definition, and the refusals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

// y = scale[c] * (x - mean) / sqrt(var + eps) + bias[c] per (n, c) plane of `plane` elements,
// in double.
std::vector<double> InstanceNormOf(const std::vector<float>& x, int64_t channels, int64_t plane,
                                   const std::vector<float>& scale, const std::vector<float>& bias, double eps) {
  std::vector<double> y(x.size());
  for (size_t p = 0; p * plane < x.size(); ++p) {
    const auto c = static_cast<size_t>(static_cast<int64_t>(p) % channels);
    double mean = 0.0, var = 0.0;
    for (int64_t i = 0; i < plane; ++i) mean += x[p * plane + i];
    mean /= static_cast<double>(plane);
    for (int64_t i = 0; i < plane; ++i) var += (x[p * plane + i] - mean) * (x[p * plane + i] - mean);
    var /= static_cast<double>(plane);
    for (int64_t i = 0; i < plane; ++i) {
      y[p * plane + i] = scale[c] * (x[p * plane + i] - mean) / std::sqrt(var + eps) + bias[c];
    }
  }
  return y;
}

}  // namespace

TEST_CASE("InstanceNormalization normalizes each (n, c) plane over its spatial elements",
          "[engine][operators][tiers]") {
  // Planes around the 8-row and 16-row blocks of the rows step, 1-D to 3-D spatial shapes, scale
  // and B that change the result and ones that do not (no Mul or Add step then), at every tier.
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  const std::vector<std::vector<int64_t>> shapes = {{1, 3, 5},       {2, 4, 3, 7}, {1, 16, 33},
                                                    {2, 9, 2, 2, 3}, {1, 17, 64},  {3, 1, 1}};
  for (KernelTier tier : tiers) {
    for (const auto& shape : shapes) {
      for (bool affine : {false, true}) {
        const int64_t channels = shape[1], total = Elements(shape), plane = total / (shape[0] * channels);
        std::vector<float> x(static_cast<size_t>(total)), scale(static_cast<size_t>(channels), 1.0f),
            bias(static_cast<size_t>(channels), 0.0f);
        for (size_t i = 0; i < x.size(); ++i) x[i] = u(rng) + (i % 5 == 0 ? 50.0f : 0.0f);
        if (affine) {
          for (float& v : scale) v = u(rng);
          for (float& v : bias) v = u(rng);
        }
        Builder b(13);
        b.Input("x", shape).Init("scale", {channels}, scale).Init("bias", {channels}, bias).Output("y");
        FloatAttr(b.Node("InstanceNormalization", {"x", "scale", "bias"}, {"y"}), "epsilon", 1e-3f);
        auto model = LoadOk(b);
        INFO("tier " << KernelTierName(tier) << ", planes of " << plane << ", channels " << channels << ", affine "
                     << affine);
        CHECK(HasStep(*model, "rows in one pass"));
        CHECK(model->StepSummary().size() == (affine ? 3u : 1u));  // the rows, then Mul and Add
        const auto y = RunAll(model, {x}, tier)[0];
        const auto ref = InstanceNormOf(x, channels, plane, scale, bias, 1e-3);
        for (size_t i = 0; i < y.size(); ++i) REQUIRE(std::abs(y[i] - ref[i]) <= 2e-5 * (1.0 + std::abs(ref[i])));
      }
    }
  }
}

TEST_CASE("InstanceNormalization of image-size planes stays within float rounding of the definition",
          "[engine][operators][tiers]") {
  // 256 x 256 planes off zero: statistics summed in order in float drifted ~1e-4 here (ONNX
  // Runtime ~4e-6); in double the output is its own float rounding away. Nothing in the model
  // grows with the plane (the step reads no scale of ones: weights stay a few bytes).
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  const std::vector<int64_t> shape = {1, 2, 256, 256};
  const int64_t plane = 256 * 256;
  std::vector<float> x(static_cast<size_t>(2 * plane)), ones(2, 1.0f), zeros(2, 0.0f);
  for (size_t i = 0; i < x.size(); ++i) x[i] = normal(rng) + (i < static_cast<size_t>(plane) ? 10.0f : 100.0f);
  Builder b(13);
  b.Input("x", shape).Init("scale", {2}, ones).Init("bias", {2}, zeros).Output("y");
  b.Node("InstanceNormalization", {"x", "scale", "bias"}, {"y"});
  auto model = LoadOk(b);
  CHECK(model->weight_bytes() < 1024);
  const auto ref = InstanceNormOf(x, 2, plane, ones, zeros, 1e-5);
  for (KernelTier tier : tiers) {
    const auto y = RunAll(model, {x}, tier)[0];
    double worst = 0.0;
    for (size_t i = 0; i < y.size(); ++i) worst = std::max(worst, std::abs(y[i] - ref[i]));
    INFO("tier " << KernelTierName(tier) << ": largest difference " << worst);
    CHECK(worst <= 1e-6);
  }
}

TEST_CASE("a GroupNorm as PyTorch exports it runs between QDQ pairs as one int8 step", "[engine][operators][tiers]") {
  // x [1, 8, 20] int8 -> Reshape [1, 2, 80] -> InstanceNormalization (scale 1, B 0) -> Q/DQ ->
  // Reshape [1, 8, 20] -> Mul(gamma) -> Add(beta) in float. The InstanceNormalization is one
  // "(int8, float inside)" step; its codes within one step of the definition on the DQ'd input
  // and the same bytes at every tier.
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  const float s_in = 0.05f, s_mid = 3.0f / 127.0f;
  Builder b(13);
  b.Input("x", {1, 8, 20}).Init("s_in", {}, {s_in}).Init("s_mid", {}, {s_mid}).InitI8("zp", {}, {3}).Output("y");
  b.InitInts("groups", {3}, {1, 2, 80}, onnx::TensorProto::INT64);
  b.Init("ones", {2}, {1.0f, 1.0f}).Init("zeros", {2}, {0.0f, 0.0f});
  b.Node("QuantizeLinear", {"x", "s_in", "zp"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "s_in", "zp"}, {"xd"});
  b.Node("Reshape", {"xd", "groups"}, {"g"});
  b.Node("InstanceNormalization", {"g", "ones", "zeros"}, {"n"});
  b.Node("QuantizeLinear", {"n", "s_mid", "zp"}, {"nq"});
  b.Node("DequantizeLinear", {"nq", "s_mid", "zp"}, {"y"});
  auto model = LoadOk(b);
  CHECK(HasStep(*model, "InstanceNormalization"));
  CHECK(HasStep(*model, "(int8, float inside)"));
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-6.0f, 6.0f);
  std::vector<float> x(160);
  for (float& v : x) v = u(rng);
  std::vector<float> xd(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float q = std::min(127.0f, std::max(-128.0f, std::nearbyint(x[i] / s_in) + 3.0f));
    xd[i] = (q - 3.0f) * s_in;
  }
  const auto ref = InstanceNormOf(xd, 2, 80, {1.0f, 1.0f}, {0.0f, 0.0f}, 1e-5);
  std::vector<float> first;
  for (KernelTier tier : tiers) {
    INFO("tier " << KernelTierName(tier));
    const auto y = RunAll(model, {x}, tier)[0];
    for (size_t i = 0; i < y.size(); ++i) {
      const double clamped = std::min(124.0 * s_mid, std::max(-131.0 * s_mid, ref[i]));
      REQUIRE(std::abs(y[i] - clamped) <= s_mid * 1.0001);
    }
    if (first.empty()) first = y;
    CHECK(std::memcmp(first.data(), y.data(), y.size() * sizeof(float)) == 0);
  }
}

TEST_CASE("InstanceNormalization refuses computed or misshapen parameters and low ranks, naming the node",
          "[engine][operators]") {
  struct Case {
    const char* what;
    std::vector<int64_t> x_shape;
    std::vector<int64_t> scale_shape;
    bool scale_is_input;
    const char* error;
  };
  const std::vector<Case> cases = {
      {"computed scale", {1, 2, 4}, {2}, true, "scale must be a constant"},
      {"scale of the wrong size", {1, 2, 4}, {3}, false, "scale must hold C = 2 values"},
      {"scale of rank 2", {1, 2, 4}, {2, 1}, false, "scale must hold C = 2 values"},
      {"rank 2 input", {2, 4}, {4}, false, "rank 3 or more"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.what) {
      Builder b(13);
      b.Input("x", c.x_shape).Output("y");
      const int64_t scale_count = Elements(c.scale_shape);
      if (c.scale_is_input) {
        b.Input("scale", c.scale_shape);
      } else {
        b.Init("scale", c.scale_shape, std::vector<float>(static_cast<size_t>(scale_count), 1.0f));
      }
      b.Init("bias", {c.x_shape[1]}, std::vector<float>(static_cast<size_t>(c.x_shape[1]), 0.0f));
      b.Node("InstanceNormalization", {"x", "scale", "bias"}, {"y"})->set_name("gn");
      auto m = b.Load();
      REQUIRE_FALSE(m.has_value());
      CHECK_THAT(m.error().message, Catch::Contains("gn") && Catch::Contains("(InstanceNormalization)") &&
                                        Catch::Contains(c.error));
    }
  }
  SECTION("an attribute it does not know") {
    Builder b(13);
    b.Input("x", {1, 2, 4}).Init("scale", {2}, {1, 1}).Init("bias", {2}, {0, 0}).Output("y");
    IntAttr(b.Node("InstanceNormalization", {"x", "scale", "bias"}, {"y"}), "momentum", 1);
    auto m = b.Load();
    REQUIRE_FALSE(m.has_value());
    CHECK_THAT(m.error().message, Catch::Contains("(InstanceNormalization)") && Catch::Contains("momentum"));
  }
  SECTION("an integer epsilon (it would have read as the default 1e-5), an integer scale") {
    for (bool int_scale : {false, true}) {
      Builder b(13);
      b.Input("x", {1, 2, 4}).Init("bias", {2}, {0, 0}).Output("y");
      if (int_scale) {
        b.InitInts("scale", {2}, {1, 1}, onnx::TensorProto::INT64);
      } else {
        b.Init("scale", {2}, {1, 1});
      }
      auto* node = b.Node("InstanceNormalization", {"x", "scale", "bias"}, {"y"});
      if (!int_scale) IntAttr(node, "epsilon", 1);
      auto m = b.Load();
      REQUIRE_FALSE(m.has_value());
      CHECK_THAT(m.error().message, Catch::Contains(int_scale ? "scale must be a float tensor"
                                                              : "attribute 'epsilon' is an integer; ONNX defines it as a float"));
    }
  }
}

}  // namespace edge::engine::testing
