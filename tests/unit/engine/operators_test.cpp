// Operators added for models users bring: element-wise functions (float and int8 lookups),
// variadic Max/Min/Sum/Mean, BatchNormalization with computed parameters, 3-D windows. ONNX's
// own node tests (tests/conformance) check their float values; these cover the int8 paths, the
// fallbacks and the refusals.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/tiers.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

// x -> Q -> DQ -> op -> Q -> DQ -> y, every scale `s` and zero point 0.
Builder QdqAround(const std::string& op, const std::vector<int64_t>& shape, float s_in, float s_out) {
  Builder b(13);
  b.Input("x", shape).Init("s_in", {}, {s_in}).Init("s_out", {}, {s_out}).InitI8("zp", {}, {0}).Output("y");
  b.Node("QuantizeLinear", {"x", "s_in", "zp"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "s_in", "zp"}, {"xd"});
  b.Node(op, {"xd"}, {"f"});
  b.Node("QuantizeLinear", {"f", "s_out", "zp"}, {"fq"});
  b.Node("DequantizeLinear", {"fq", "s_out", "zp"}, {"y"});
  return b;
}

TEST_CASE("element-wise int8 lookups saturate what the float function cannot represent", "[engine][operators]") {
  // Log(0) = -inf, Log(<0) = NaN, Sqrt(<0) = NaN, 1/0 = inf: each becomes a saturated code.
  const std::vector<float> x = {-1.0f, -0.1f, 0.0f, 0.1f, 0.5f, 1.0f, 2.0f, 4.0f};
  for (const std::string op : {"Log", "Sqrt", "Reciprocal", "Exp", "Erf", "Softplus"}) {
    DYNAMIC_SECTION(op) {
      auto model = LoadOk(QdqAround(op, {1, 8}, 0.1f, 0.05f));
      CHECK(model->is_quantized());
      CHECK(HasStep(*model, op));
      const auto y = RunOne(model, x);
      for (size_t i = 0; i < x.size(); ++i) {
        INFO(op << "(" << x[i] << ") = " << y[i]);
        CHECK(std::isfinite(y[i]));
        CHECK(y[i] >= -128 * 0.05f - 1e-6f);
        CHECK(y[i] <= 127 * 0.05f + 1e-6f);
        float ref = 0.0f;
        if (op == "Log") ref = std::log(x[i]);
        if (op == "Sqrt") ref = std::sqrt(x[i]);
        if (op == "Reciprocal") ref = 1.0f / x[i];
        if (op == "Exp") ref = std::exp(x[i]);
        if (op == "Erf") ref = std::erf(x[i]);
        if (op == "Softplus") ref = std::log1p(std::exp(x[i]));
        if (!std::isnan(ref)) {
          const float clamped = std::min(std::max(ref, -128 * 0.05f), 127 * 0.05f);
          CHECK(std::abs(y[i] - clamped) <= 0.05f / 2 + 1e-6f);  // within half a step
        } else {
          CHECK(y[i] == Approx(-128 * 0.05f));  // NaN saturates low
        }
      }
    }
  }
}

TEST_CASE("element-wise refusals name the attribute", "[engine][operators]") {
  {
    Builder b(20);
    b.Input("x", {1, 4}).Output("y");
    auto* n = b.Node("Gelu", {"x"}, {"y"});
    auto* a = n->add_attribute();
    a->set_name("approximate");
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s("fast");
    auto r = b.Load();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("approximate must be 'none' or 'tanh', not 'fast'"));
  }
  {
    Builder b(12);
    b.Input("x", {1, 4}).Output("y");
    FloatAttr(b.Node("Celu", {"x"}, {"y"}), "alpha", 0.0f);
    auto r = b.Load();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("(Celu): alpha must not be 0"));
  }
  {
    Builder b(20);  // Gelu exists from opset 20
    b.Input("x", {1, 4}).Output("y");
    b.proto().mutable_opset_import(0)->set_version(18);
    b.Node("Gelu", {"x"}, {"y"});
    auto r = b.Load();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Catch::Contains("Gelu at opset 18 is not supported (the engine handles it from opset 20)"));
  }
}

TEST_CASE("variadic Mean broadcasts its inputs and scales the sum", "[engine][operators]") {
  Builder b(13);
  b.Input("x", {2, 1}).Init("c", {1, 3}, {10, 20, 30}).Init("d", {1}, {3}).Output("y");
  b.Node("Mean", {"x", "c", "d"}, {"y"});
  const auto y = RunOne(LoadOk(b), {0.0f, 3.0f});
  const std::vector<float> expected = {13.0f / 3, 23.0f / 3, 33.0f / 3, 16.0f / 3, 26.0f / 3, 36.0f / 3};
  REQUIRE(y.size() == expected.size());
  for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == Approx(expected[i]).epsilon(1e-6));
}

TEST_CASE("BatchNormalization with computed parameters normalizes per channel", "[engine][operators]") {
  Builder b(15);
  b.Input("x", {1, 2, 2}).Init("scale", {2}, {1, 2}).Init("bias", {2}, {0, 1}).Init("var", {2}, {4, 1});
  b.Init("m", {2}, {1, -1}).Output("y");
  b.Node("Relu", {"m"}, {"mean"});  // a computed mean: no folding
  b.Node("BatchNormalization", {"x", "scale", "bias", "mean", "var"}, {"y"});
  FloatAttr(b.proto().mutable_graph()->mutable_node(1), "epsilon", 0.0f);
  const auto y = RunOne(LoadOk(b), {1, 3, 0, 2});
  // channel 0: (x - 1) / 2 * 1 + 0; channel 1: (x - 0) / 1 * 2 + 1
  CHECK(y == std::vector<float>{0.0f, 1.0f, 1.0f, 5.0f});
}

TEST_CASE("3-D windows: int8 MaxPool stays int8, a QDQ Conv3d runs in int8, GlobalAveragePool of a volume",
          "[engine][operators]") {
  std::vector<float> x(27);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7) % 11) * 0.1f;
  {
    Builder b = QdqAround("MaxPool", {1, 1, 3, 3, 3}, 0.1f, 0.1f);
    auto* pool = b.proto().mutable_graph()->mutable_node(2);
    IntsAttr(pool, "kernel_shape", {2, 2, 2});
    auto model = LoadOk(b);
    // Both halves of the pool run on int8 (max commutes with dequantization).
    int int8_pools = 0;
    for (const auto& step : model->StepSummary()) {
      if (step.rfind("MaxPool", 0) == 0) {  // the pools, not the transposes named after them
        CHECK(step.find("int8") != std::string::npos);
        ++int8_pools;
      }
    }
    CHECK(int8_pools == 2);
    const auto y = RunOne(model, x);
    REQUIRE(y.size() == 8);
    for (int64_t d = 0; d < 2; ++d) {
      for (int64_t h = 0; h < 2; ++h) {
        for (int64_t w = 0; w < 2; ++w) {
          float best = -1.0f;
          for (int64_t k = 0; k < 8; ++k) {
            best = std::max(best, x[static_cast<size_t>(((d + k / 4) * 3 + h + (k / 2) % 2) * 3 + w + k % 2)]);
          }
          CHECK(y[static_cast<size_t>((d * 2 + h) * 2 + w)] == Approx(best).margin(1e-6));
        }
      }
    }
  }
  {
    Builder b(13);
    b.Input("x", {1, 1, 3, 3, 3}).Init("s", {}, {0.1f}).InitI8("zp", {}, {0}).Init("ws", {}, {0.5f});
    b.InitI8("wq", {1, 1, 3, 3, 3}, std::vector<int>(27, 2)).Output("y");
    b.Node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
    b.Node("DequantizeLinear", {"wq", "ws", "zp"}, {"w"});
    b.Node("Conv", {"xd", "w"}, {"c"});
    b.Node("QuantizeLinear", {"c", "s", "zp"}, {"cq"});
    b.Node("DequantizeLinear", {"cq", "s", "zp"}, {"y"});
    auto model = LoadOk(b);
    // the depth taps as the input channels of one 2-D int8 Conv (conv3d_test.cpp)
    CHECK(HasStep(*model, "QConv"));
    CHECK(HasStep(*model, "(3x3, 3->1, "));
    CHECK_FALSE(HasStep(*model, ", float)"));
    float sum = 0.0f;
    for (float v : x) sum += v;  // weights are all 2 * 0.5 = 1
    const auto y = RunOne(model, x);
    REQUIRE(y.size() == 1);
    CHECK(y[0] == Approx(std::min(sum, 12.7f)).margin(0.05f + 1e-5f));
  }
  {
    Builder b(13);
    b.Input("x", {1, 1, 3, 3, 3}).Output("y");
    b.Node("GlobalAveragePool", {"x"}, {"y"});
    auto model = LoadOk(b);
    CHECK(model->outputs()[0].shape == std::vector<int64_t>{1, 1, 1, 1, 1});
    float sum = 0.0f;
    for (float v : x) sum += v;
    CHECK(RunOne(model, x)[0] == Approx(sum / 27.0f));
  }
}

TEST_CASE("LayerNormalization gives its Mean and InvStdDev outputs", "[engine][operators]") {
  Builder b(17);
  b.Input("x", {2, 4}).Init("scale", {4}, {1, 1, 2, 2}).Init("bias", {4}, {0, 0, 0, 1});
  b.Output("y").Output("mean").Output("inv");
  FloatAttr(b.Node("LayerNormalization", {"x", "scale", "bias"}, {"y", "mean", "inv"}), "epsilon", 0.0f);
  auto model = LoadOk(b);
  ExecutionContext ctx(model);
  const std::vector<float> x = {1, 2, 3, 4, -2, -2, 2, 2};
  std::vector<float> y(8), mean(2), inv(2);
  const float* in[] = {x.data()};
  float* out[] = {y.data(), mean.data(), inv.data()};
  REQUIRE(ctx.Run(in, out).has_value());
  CHECK(mean == std::vector<float>{2.5f, 0.0f});
  CHECK(inv[0] == Approx(1.0f / std::sqrt(1.25f)));
  CHECK(inv[1] == Approx(0.5f));
  CHECK(y[7] == Approx(2.0f * 1.0f + 1.0f));  // (2 - 0) * 0.5 * 2 + 1
  CHECK(model->outputs()[1].shape == std::vector<int64_t>{2, 1});
}

TEST_CASE("LayerNormalization in one step per row block gives the unfused steps' bits", "[engine][operators]") {
  // Without the Mean and InvStdDev outputs the engine runs one kLayerNormRows step; asking for
  // them keeps the nine steps. Rows around the 8-row block and the AVX-512 form's 16-row one,
  // rows of 1 to 100 elements, the normalized shape over one or two axes, with and without B,
  // values wide apart; at every tier.
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> u(-40.0f, 40.0f);
  struct Case {
    std::vector<int64_t> shape;
    int64_t axis;
    bool bias;
  };
  const std::vector<Case> cases = {{{7, 64}, -1, true}, {{8, 64}, -1, true},  {{17, 5}, -1, false},
                                   {{2, 9, 70}, 2, true}, {{3, 4, 6}, 1, true}, {{1, 1}, -1, true},
                                   {{50, 64}, -1, true}, {{9, 33}, 1, false}, {{15, 64}, -1, true},
                                   {{16, 64}, -1, true}, {{33, 17}, -1, false}, {{16, 1}, -1, true},
                                   {{2, 24, 100}, 2, true}, {{4, 8, 2, 16}, 2, true}};
  for (KernelTier tier : tiers) {
  for (const Case& c : cases) {
    int64_t row = 1, total = 1;
    const int64_t axis = c.axis < 0 ? static_cast<int64_t>(c.shape.size()) + c.axis : c.axis;
    for (size_t d = 0; d < c.shape.size(); ++d) {
      total *= c.shape[d];
      if (static_cast<int64_t>(d) >= axis) row *= c.shape[d];
    }
    const std::vector<int64_t> norm(c.shape.begin() + axis, c.shape.end());
    std::vector<float> scale(static_cast<size_t>(row)), bias(static_cast<size_t>(row)), x(static_cast<size_t>(total));
    for (float& v : scale) v = u(rng) / 10.0f;
    for (float& v : bias) v = u(rng);
    for (size_t i = 0; i < x.size(); ++i) x[i] = u(rng) * (i % 3 == 0 ? 100.0f : 1.0f) + 1000.0f;
    std::vector<float> y[2];
    for (int stats = 0; stats < 2; ++stats) {
      Builder b(17);
      b.Input("x", c.shape).Init("scale", norm, scale).Output("y");
      if (c.bias) b.Init("bias", norm, bias);
      std::vector<std::string> outs = {"y"};
      if (stats) {
        b.Output("mean").Output("inv");
        outs = {"y", "mean", "inv"};
      }
      auto* n = b.Node("LayerNormalization", c.bias ? std::vector<std::string>{"x", "scale", "bias"} : std::vector<std::string>{"x", "scale"}, outs);
      IntAttr(n, "axis", c.axis);
      FloatAttr(n, "epsilon", 1e-3f);
      auto model = LoadOk(b);
      INFO("tier " << KernelTierName(tier) << ", shape " << c.shape.size() << "-D, row " << row << ", stats " << stats);
      CHECK(HasStep(*model, "rows in one pass") == (stats == 0));
      ExecutionContext ctx(model, tier);
      y[stats].assign(x.size(), 0.0f);
      std::vector<float> mean(static_cast<size_t>(total / row)), inv(mean.size());
      const float* in[] = {x.data()};
      float* out[] = {y[stats].data(), mean.data(), inv.data()};
      REQUIRE(ctx.Run(in, {out, out + (stats ? 3 : 1)}).has_value());
    }
    INFO("row " << row);
    for (size_t i = 0; i < x.size(); ++i) {
      uint32_t a, b;
      std::memcpy(&a, &y[0][i], 4);
      std::memcpy(&b, &y[1][i], 4);
      REQUIRE(a == b);
    }
  }
  }
}

TEST_CASE("LayerNormalization's Mean and InvStdDev named but read by nothing keep the one-step form", "[engine][operators]") {
  // An exporter may name every output; only a graph output or a reader makes the nine steps
  // keep the statistics. Read by another node, they stay.
  const std::vector<float> x = {1, 2, 3, 4, -2, -2, 2, 2};
  for (int use = 0; use < 3; ++use) {  // 0: unread, 1: mean read by a node, 2: inv a graph output
    Builder b(17);
    b.Input("x", {2, 4}).Init("scale", {4}, {1, 1, 2, 2}).Output("y");
    FloatAttr(b.Node("LayerNormalization", {"x", "scale"}, {"y", "mean", "inv"}), "epsilon", 1e-3f);
    if (use == 1) {
      b.Node("Neg", {"mean"}, {"neg_mean"});
      b.Output("neg_mean");
    }
    if (use == 2) b.Output("inv");
    auto model = LoadOk(b);
    INFO("use " << use);
    CHECK(HasStep(*model, "rows in one pass") == (use == 0));
    ExecutionContext ctx(model);
    std::vector<float> y(8), extra(2);
    const float* in[] = {x.data()};
    float* out[] = {y.data(), extra.data()};
    REQUIRE(ctx.Run(in, {out, out + (use == 0 ? 1 : 2)}).has_value());
    CHECK(y[0] == Approx(-1.5f / std::sqrt(1.25f + 1e-3f)));
    if (use == 1) CHECK(extra == std::vector<float>{-2.5f, -0.0f});
    if (use == 2) CHECK(extra[1] == Approx(1.0f / std::sqrt(4.0f + 1e-3f)));
  }
}

TEST_CASE("ReduceMax and ReduceMin over trailing axes take the tier's plane extremes, int8 and float",
          "[engine][operators][tiers]") {
  // [2, 3, 40] over axes {2} and {1, 2} (keepdims 0 and 1): each output one contiguous plane.
  // Against the extreme computed here (int8: of the quantized codes, the scale being positive),
  // at every tier; an inner axis stays on the generic walk.
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-6.0f, 6.0f);
  std::vector<float> x(240);
  for (float& v : x) v = std::nearbyint(u(rng) / 0.05f) * 0.05f;  // on the int8 grid
  for (const std::string op : {"ReduceMax", "ReduceMin"}) {
    for (bool int8 : {false, true}) {
      for (const std::vector<int64_t>& axes :
           {std::vector<int64_t>{2}, std::vector<int64_t>{1, 2}, std::vector<int64_t>{1}}) {
        Builder b = int8 ? QdqAround(op, {2, 3, 40}, 0.05f, 0.05f) : Builder(13);
        if (!int8) b.Input("x", {2, 3, 40}).Output("y").Node(op, {"x"}, {"y"});
        auto* node = b.proto().mutable_graph()->mutable_node(int8 ? 2 : 0);
        IntsAttr(node, "axes", axes);
        IntAttr(node, "keepdims", axes.size() == 1 ? 0 : 1);
        auto model = LoadOk(b);
        const bool trailing = axes.back() == 2;
        INFO(op << (int8 ? " int8" : " float") << " over " << axes.size() << " axes, trailing " << trailing);
        CHECK(HasStep(*model, "plane extremes") == trailing);
        const int64_t plane = trailing ? (axes.size() == 1 ? 40 : 120) : 3;
        std::vector<float> want;
        for (int64_t o = 0; o < 240 / plane; ++o) {
          float e = op == "ReduceMax" ? -INFINITY : INFINITY;
          for (int64_t i = 0; i < plane; ++i) {
            const float v = trailing ? x[static_cast<size_t>(o * plane + i)]
                                     : x[static_cast<size_t>((o / 40) * 120 + i * 40 + o % 40)];
            e = op == "ReduceMax" ? std::max(e, v) : std::min(e, v);
          }
          want.push_back(e);
        }
        for (KernelTier tier : tiers) {
          const auto y = RunAll(model, {x}, tier)[0];
          REQUIRE(y.size() == want.size());
          for (size_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == Approx(want[i]).margin(1e-6));
        }
      }
    }
  }
}

TEST_CASE("reductions other than the mean run in float on int8 inputs", "[engine][operators]") {
  Builder b = QdqAround("ReduceMax", {2, 3}, 0.1f, 0.1f);
  IntsAttr(b.proto().mutable_graph()->mutable_node(2), "axes", {1});
  const auto y = RunOne(LoadOk(b), {0.1f, 0.5f, 0.3f, -0.2f, -0.4f, -0.3f});
  CHECK(y[0] == Approx(0.5f));
  CHECK(y[1] == Approx(-0.2f));
}

TEST_CASE("Pad takes a constant_value computed at run time", "[engine][operators]") {
  Builder b(13);
  b.Input("x", {1, 3}).InitInts("pads", {4}, {0, 1, 0, 2}, onnx::TensorProto::INT64).Init("c", {}, {2.5f}).Output("y");
  b.Node("Relu", {"c"}, {"v"});  // computed: not folded to a constant
  b.Node("Pad", {"x", "pads", "v"}, {"y"});
  CHECK(RunOne(LoadOk(b), {1, -2, 3}) == std::vector<float>{2.5f, 1, -2, 3, 2.5f, 2.5f});
}

// Constant-mode Pad of random ranks, shapes and pads (zero on some axes, wider than the input
// on others), float and int8 between QDQ pairs (the zero point fills), against the definition.
TEST_CASE("constant Pad of any rank equals the definition, float and int8", "[engine][operators]") {
  std::mt19937 rng(1207);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int iter = 0; iter < 80; ++iter) {
    const int rank = static_cast<int>(pick(1, 5));
    std::vector<int64_t> shape(static_cast<size_t>(rank)), pads(static_cast<size_t>(2 * rank)), out(shape.size());
    const int64_t widest = rank <= 2 ? 12 : 4;  // outputs of at most a few thousand elements
    for (int d = 0; d < rank; ++d) {
      shape[d] = pick(1, rank <= 2 ? 9 : 5);
      pads[d] = pick(0, 2) == 0 ? 0 : pick(0, widest);
      pads[d + rank] = pick(0, 2) == 0 ? 0 : pick(0, widest);
      out[d] = shape[d] + pads[d] + pads[d + rank];
    }
    const bool int8 = iter % 2 == 1;
    const float s = 0.25f;
    const int z = static_cast<int>(pick(-20, 20));
    Builder b(13);
    b.Input("x", shape).Output("y").InitInts("pads", {2 * rank}, pads, onnx::TensorProto::INT64);
    if (int8) {
      b.Init("s", {}, {s}).InitI8("z", {}, {z});
      b.Node("QuantizeLinear", {"x", "s", "z"}, {"xq"});
      b.Node("DequantizeLinear", {"xq", "s", "z"}, {"xd"});
      b.Node("Pad", {"xd", "pads"}, {"p"});
      b.Node("QuantizeLinear", {"p", "s", "z"}, {"pq"});
      b.Node("DequantizeLinear", {"pq", "s", "z"}, {"y"});
    } else {
      b.Init("v", {}, {-7.5f});
      b.Node("Pad", {"x", "pads", "v"}, {"y"});
    }
    int64_t total = 1, total_out = 1;
    for (int d = 0; d < rank; ++d) total *= shape[d], total_out *= out[d];
    std::vector<float> x(static_cast<size_t>(total));
    for (auto& v : x) v = static_cast<float>(pick(-100, 100)) * s;
    std::vector<float> want(static_cast<size_t>(total_out), int8 ? 0.0f : -7.5f);
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    for (int64_t i = 0; i < total; ++i) {
      int64_t o = 0;
      for (int d = 0; d < rank; ++d) o = o * out[d] + idx[d] + pads[d];
      want[static_cast<size_t>(o)] = x[static_cast<size_t>(i)];
      for (int d = rank - 1; d >= 0; --d) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    INFO("iteration " << iter << " rank " << rank << (int8 ? " int8" : " float"));
    const auto got = RunAll(LoadOk(b), {x})[0];
    CHECK(std::equal(got.begin(), got.end(), want.begin(), want.end()));
  }
}

// A BatchNormalization between QDQ pairs that no conv takes in (after a Reshape, a
// ConvTranspose): one lookup table per channel, the DequantizeLinear, the affine's two float
// roundings and the QuantizeLinear per code, at every tier.
TEST_CASE("an int8 BatchNormalization is one lookup per channel with the unfused steps' bytes", "[engine][operators]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(77);
  auto unit = [&](float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng); };
  for (int iter = 0; iter < 12; ++iter) {
    const int64_t c = 1 + iter * 3, h = 1 + iter % 4, w = 5 + iter;
    const float sx = unit(0.01f, 0.2f), sy = unit(0.01f, 0.2f);
    const int zx = static_cast<int>(unit(-100, 100)), zy = static_cast<int>(unit(-100, 100));
    std::vector<float> g(static_cast<size_t>(c)), bias(g.size()), mean(g.size()), var(g.size());
    for (int64_t k = 0; k < c; ++k) {
      g[k] = unit(-3, 3), bias[k] = unit(-2, 2), mean[k] = unit(-1, 1), var[k] = unit(0.01f, 4);
    }
    Builder b(13);
    b.Input("x", {1, c * h * w}).Output("y");
    b.Init("sx", {}, {sx}).InitI8("zx", {}, {zx}).Init("sy", {}, {sy}).InitI8("zy", {}, {zy});
    b.Init("g", {c}, g).Init("b", {c}, bias).Init("m", {c}, mean).Init("v", {c}, var);
    b.InitInts("shape", {4}, {1, c, h, w}, onnx::TensorProto::INT64);
    b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
    b.Node("Reshape", {"xd", "shape"}, {"r"});
    b.Node("BatchNormalization", {"r", "g", "b", "m", "v"}, {"n"});
    b.Node("QuantizeLinear", {"n", "sy", "zy"}, {"nq"});
    b.Node("DequantizeLinear", {"nq", "sy", "zy"}, {"y"});
    auto model = LoadOk(b);
    bool lookup = false;
    for (const auto& step : model->StepSummary()) lookup = lookup || step.find("BatchNormalization") != std::string::npos && step.find("(int8)") != std::string::npos;
    CHECK(lookup);
    std::vector<float> x(static_cast<size_t>(c * h * w)), want(x.size());
    for (size_t i = 0; i < x.size(); ++i) {
      const int q = static_cast<int>(unit(-128, 127));
      x[i] = static_cast<float>(q - zx) * sx;
      const size_t k = i / static_cast<size_t>(h * w);
      const float mul = g[k] / std::sqrt(var[k] + 1e-5f), add = bias[k] - mean[k] * mul;
      const float v = (sx * static_cast<float>(q - zx)) * mul + add;
      want[i] = static_cast<float>(SaturateToInt8(v / sy, zy, -128, 127) - zy) * sy;
    }
    for (KernelTier tier : tiers) {
      INFO("iteration " << iter << " tier " << KernelTierName(tier));
      const auto got = RunAll(model, {x}, tier)[0];
      CHECK(std::equal(got.begin(), got.end(), want.begin(), want.end()));
    }
  }
}

TEST_CASE("Max and Min propagate NaN from either operand, ReduceMax too", "[engine][operators]") {
  const float nan = std::nanf("");
  for (const std::string op : {"Max", "Min"}) {
    Builder b(13);
    b.Input("x", {2}).Init("c", {2}, {1.0f, nan}).Output("y");
    b.Node(op, {"x", "c"}, {"y"});
    const auto y = RunOne(LoadOk(b), {nan, 2.0f});
    INFO(op);
    CHECK(std::isnan(y[0]));  // NaN first
    CHECK(std::isnan(y[1]));  // NaN second
  }
  Builder b(13);
  b.Input("x", {1, 3}).Output("y");
  IntsAttr(b.Node("ReduceMax", {"x"}, {"y"}), "axes", {1});
  CHECK(std::isnan(RunOne(LoadOk(b), {1.0f, nan, 3.0f})[0]));
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {

TEST_CASE("ConvTranspose adds every input element times its weights where they land", "[engine][operators]") {
  std::mt19937 rng(20261206);
  std::uniform_real_distribution<float> value(-1.0f, 1.0f);
  struct Case {
    int64_t n, cin, cout, group, ih, iw, kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, oph, opw;
    bool one_d;
  };
  const std::vector<Case> cases = {
      {1, 4, 3, 1, 5, 6, 2, 2, 2, 2, 1, 1, 0, 0, 0, 0, 0, 0, false},  // U-Net's 2x2/2
      {2, 4, 6, 2, 4, 5, 3, 3, 2, 3, 1, 2, 1, 0, 2, 1, 1, 2, false},  // groups, dilation, pads, output_padding
      {1, 3, 2, 1, 1, 7, 1, 4, 1, 3, 1, 1, 0, 1, 0, 2, 0, 1, true},    // 1-D
      {1, 2, 2, 1, 3, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, false},  // stride 1, "same"
  };
  for (const Case& c : cases) {
    const int64_t oh = c.sh * (c.ih - 1) + c.oph + (c.kh - 1) * c.dh + 1 - c.pt - c.pb;
    const int64_t ow = c.sw * (c.iw - 1) + c.opw + (c.kw - 1) * c.dw + 1 - c.pl - c.pr;
    const int64_t cout_g = c.cout / c.group, cin_g = c.cin / c.group;
    std::vector<float> x(static_cast<size_t>(c.n * c.cin * c.ih * c.iw)), w(static_cast<size_t>(c.cin * cout_g * c.kh * c.kw)),
        bias(static_cast<size_t>(c.cout));
    for (auto* v : {&x, &w, &bias})
      for (float& e : *v) e = value(rng);
    // y[n, oc, oy, ox] = bias[oc] + sum of x[n, ic, iy, ix] * w[ic, oc % cout_g, ky, kx] over the
    // ic of oc's group and every (iy, ky, ix, kx) with oy = iy * sh - pt + ky * dh (ox likewise)
    std::vector<double> want(static_cast<size_t>(c.n * c.cout * oh * ow));
    for (int64_t b = 0; b < c.n; ++b)
      for (int64_t oc = 0; oc < c.cout; ++oc)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            double sum = bias[static_cast<size_t>(oc)];
            for (int64_t ic = oc / cout_g * cin_g; ic < (oc / cout_g + 1) * cin_g; ++ic)
              for (int64_t iy = 0; iy < c.ih; ++iy)
                for (int64_t ky = 0; ky < c.kh; ++ky)
                  for (int64_t ix = 0; ix < c.iw; ++ix)
                    for (int64_t kx = 0; kx < c.kw; ++kx) {
                      if (iy * c.sh - c.pt + ky * c.dh != oy || ix * c.sw - c.pl + kx * c.dw != ox) continue;
                      sum += double(x[static_cast<size_t>(((b * c.cin + ic) * c.ih + iy) * c.iw + ix)]) *
                             w[static_cast<size_t>(((ic * cout_g + oc % cout_g) * c.kh + ky) * c.kw + kx)];
                    }
            want[static_cast<size_t>(((b * c.cout + oc) * oh + oy) * ow + ox)] = sum;
          }
    const std::vector<int64_t> xs = c.one_d ? std::vector<int64_t>{c.n, c.cin, c.iw} : std::vector<int64_t>{c.n, c.cin, c.ih, c.iw};
    const std::vector<int64_t> ws = c.one_d ? std::vector<int64_t>{c.cin, cout_g, c.kw} : std::vector<int64_t>{c.cin, cout_g, c.kh, c.kw};
    Builder b(13);
    b.Input("x", xs).Init("w", ws, w).Init("b", {c.cout}, bias).Output("y");
    auto* n = b.Node("ConvTranspose", {"x", "w", "b"}, {"y"});
    IntAttr(n, "group", c.group);
    IntsAttr(n, "strides", c.one_d ? std::vector<int64_t>{c.sw} : std::vector<int64_t>{c.sh, c.sw});
    IntsAttr(n, "dilations", c.one_d ? std::vector<int64_t>{c.dw} : std::vector<int64_t>{c.dh, c.dw});
    IntsAttr(n, "pads", c.one_d ? std::vector<int64_t>{c.pl, c.pr} : std::vector<int64_t>{c.pt, c.pl, c.pb, c.pr});
    IntsAttr(n, "output_padding", c.one_d ? std::vector<int64_t>{c.opw} : std::vector<int64_t>{c.oph, c.opw});
    auto model = LoadOk(b);
    INFO("case cin " << c.cin << " group " << c.group << (c.one_d ? " 1-D" : " 2-D"));
    REQUIRE(model->outputs()[0].elements == static_cast<int64_t>(want.size()));
    const auto y = RunOne(model, x);
    for (size_t i = 0; i < want.size(); ++i) CHECK(y[i] == Approx(want[i]).margin(1e-5));
  }
}

TEST_CASE("ConvTranspose sizes from output_shape and auto_pad, and its refusals", "[engine][operators]") {
  auto build = [](const std::vector<int64_t>& w_shape, const std::function<void(onnx::NodeProto*)>& attrs,
                  const std::vector<int64_t>& x_shape = {1, 2, 3, 3}) {
    Builder b(13);
    b.Input("x", x_shape).Init("w", w_shape, std::vector<float>(static_cast<size_t>(Elements(w_shape)), 0.5f)).Output("y");
    attrs(b.Node("ConvTranspose", {"x", "w"}, {"y"}));
    return b;
  };
  // 3 x 3 at stride 3 x 2 with a 3 x 3 kernel is 9 x 7 in full; output_shape 10 x 8 extends the end
  auto sized = LoadOk(build({2, 1, 3, 3}, [](onnx::NodeProto* n) {
    IntsAttr(n, "strides", {3, 2});
    IntsAttr(n, "output_shape", {10, 8});
  }));
  CHECK(sized->outputs()[0].shape == std::vector<int64_t>{1, 1, 10, 8});
  // the extension is all at the end: 3 taps of weight 0.5 at stride 2 on x = 1, 2, 3 (1-D,
  // full length 6 asked 9) give 0.5, 0.5, 1, 1, 1.5, 1.5 and then three zeros
  Builder longer(13);
  longer.Input("x", {1, 1, 3}).Init("w", {1, 1, 2}, {0.5f, 0.5f}).Output("y");
  auto* n = longer.Node("ConvTranspose", {"x", "w"}, {"y"});
  IntsAttr(n, "strides", {2});
  IntsAttr(n, "output_shape", {9});
  CHECK(RunOne(LoadOk(longer), {1, 2, 3}) == std::vector<float>{0.5f, 0.5f, 1, 1, 1.5f, 1.5f, 0, 0, 0});
  auto same = LoadOk(build({2, 1, 3, 3}, [](onnx::NodeProto* n) {
    IntsAttr(n, "strides", {2, 2});
    StrAttr(n, "auto_pad", "SAME_UPPER");
  }));
  CHECK(same->outputs()[0].shape == std::vector<int64_t>{1, 1, 6, 6});
  struct Refusal {
    const char* what;
    std::vector<int64_t> w_shape;
    std::function<void(onnx::NodeProto*)> attrs;
    const char* error;
  };
  const std::vector<Refusal> refusals = {
      {"3-D", {2, 1, 3, 3, 3}, [](onnx::NodeProto*) {}, "only 1-D and 2-D ConvTranspose"},
      {"output_padding not below the stride", {2, 1, 3, 3}, [](onnx::NodeProto* n) { IntsAttr(n, "output_padding", {1, 1}); },
       "output_padding must be at least 0 and below the stride"},
      {"negative pads", {2, 1, 3, 3}, [](onnx::NodeProto* n) { IntsAttr(n, "pads", {-1, 0, 0, 0}); }, "pads must be 0 or more"},
      {"pads eating the output", {2, 1, 3, 3}, [](onnx::NodeProto* n) { IntsAttr(n, "pads", {3, 0, 3, 0}); }, "the output would be empty"},
      {"channels against the weights", {3, 1, 3, 3}, [](onnx::NodeProto*) {}, "channel counts do not match"},
      {"a zero stride", {2, 1, 3, 3}, [](onnx::NodeProto* n) { IntsAttr(n, "strides", {0, 1}); }, "between 1 and 4096"},
  };
  for (const Refusal& r : refusals) {
    INFO(r.what);
    const std::vector<int64_t> x_shape = r.w_shape.size() == 5 ? std::vector<int64_t>{1, 2, 3, 3, 3} : std::vector<int64_t>{1, 2, 3, 3};
    auto m = build(r.w_shape, r.attrs, x_shape).Load();
    REQUIRE_FALSE(m.has_value());
    CHECK_THAT(m.error().message, Catch::Contains(r.error) && Catch::Contains("(ConvTranspose)"));
  }
}

}  // namespace edge::engine::testing
