// Zero-copy Concat (PlaceConcatInputs, arena_plan.cpp): where every input is one contiguous part
// of the output, an input whose bytes the Concat would only copy is written there by its
// producer and the Concat skips it. The outputs must be the bytes of the same model loaded with
// keep_all_tensors (every tensor its own bytes, nothing placed), at every tier, including
// inputs read again after the Concat, nested Concats, an input given twice, graph inputs and
// outputs among the inputs (never placed), int8 inputs that need requantization (never placed)
// and parts that interleave (a batch of two, an axis after the first: never placed).
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

// The "written in place" counts of a model's Concat steps, in step order ("0 of 2" where none).
std::vector<std::string> PlacedCounts(const Model& m) {
  std::vector<std::string> counts;
  for (const std::string& s : m.StepSummary()) {
    if (s.rfind("Concat ", 0) != 0) continue;
    int placed = 0, inputs = 0;
    const size_t at = s.find(", ");
    if (at != std::string::npos && std::sscanf(s.c_str() + at, ", %d of %d inputs written in place", &placed, &inputs) == 2) {
      counts.push_back(std::to_string(placed) + " of " + std::to_string(inputs));
    } else {
      counts.push_back("none");
    }
  }
  return counts;
}

std::shared_ptr<const Model> Load(const Builder& b, bool keep_all) {
  LoadOptions options;
  options.keep_all_tensors = keep_all;
  auto m = b.Load(options);
  if (!m) FAIL(m.error().message);
  return *m;
}

void CheckSameOutputs(const Builder& b, const std::vector<std::vector<float>>& inputs) {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  const auto placed = Load(b, false), plain = Load(b, true);
  const auto expected = RunAll(plain, inputs, KernelTier::kScalar);
  for (KernelTier tier : tiers) {
    const auto got = RunAll(placed, inputs, tier);
    REQUIRE(got.size() == expected.size());
    for (size_t o = 0; o < got.size(); ++o) {
      INFO("tier " << KernelTierName(tier) << " output " << o);
      REQUIRE(got[o].size() == expected[o].size());
      CHECK(std::memcmp(got[o].data(), expected[o].data(), got[o].size() * sizeof(float)) == 0);
    }
  }
}

std::vector<float> Ramp(size_t n) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = std::sin(static_cast<float>(i) * 0.37f) * 3.0f;
  return v;
}

TEST_CASE("float Concat inputs are written in place where nothing else needs their bytes", "[engine][concat]") {
  for (int64_t batch : {1, 2}) {
    Builder b(13);
    b.Input("x", {batch, 4, 6, 6}).Output("d").Output("e").Output("a").Output("f").Output("h");
    b.Node("Relu", {"x"}, {"a"});     // a graph output, and given twice: copied
    b.Node("Sigmoid", {"x"}, {"s"});  // placed, and read again after the Concat (e)
    IntAttr(b.Node("Concat", {"a", "s", "x", "a"}, {"c"}), "axis", 1);  // x: a graph input, copied
    b.Node("Tanh", {"x"}, {"t"});
    IntAttr(b.Node("Concat", {"c", "t"}, {"d"}), "axis", 1);  // c itself placed in d, with s inside it
    b.Init("one", {}, {1.0f});
    b.Node("Add", {"s", "one"}, {"e"});
    b.Node("Neg", {"x"}, {"n"});
    b.Node("Abs", {"x"}, {"m"});
    IntAttr(b.Node("Concat", {"n", "m"}, {"f"}), "axis", 2);  // parts interleave over 4 channels
    b.Node("Exp", {"x"}, {"g"});
    IntAttr(b.Node("Concat", {"g", "g"}, {"h"}), "axis", 1);  // given twice: placed once, copied once
    INFO("batch " << batch);
    const auto counts = PlacedCounts(*Load(b, false));
    if (batch == 1) {
      CHECK(counts == std::vector<std::string>{"1 of 4", "2 of 2", "none", "1 of 2"});
    } else {
      CHECK(counts == std::vector<std::string>{"none", "none", "none", "none"});
    }
    CHECK(PlacedCounts(*Load(b, true)) == std::vector<std::string>{"none", "none", "none", "none"});
    CheckSameOutputs(b, {Ramp(static_cast<size_t>(batch) * 144)});
  }
}

TEST_CASE("int8 Concat inputs with the output's parameters are written in place, the others requantized",
          "[engine][concat][tiers]") {
  Builder b(13);
  b.Input("x", {1, 3, 5, 7}).Output("y").Output("y2");
  b.Init("sx", {}, {0.03f}).Init("sc", {}, {0.02f}).Init("st", {}, {0.011f}).Init("sa", {}, {0.05f});
  b.InitI8("zx", {}, {2}).InitI8("zc", {}, {-5}).InitI8("zt", {}, {9}).InitI8("za", {}, {0});
  b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
  const auto branch = [&](const std::string& op, const std::string& name, const std::string& s, const std::string& z) {
    b.Node(op, {"xd"}, {name});
    b.Node("QuantizeLinear", {name, s, z}, {name + "q"});
    b.Node("DequantizeLinear", {name + "q", s, z}, {name + "d"});
  };
  branch("Sigmoid", "sg", "sc", "zc");  // the Concat's parameters: placed
  branch("Tanh", "th", "st", "zt");     // others: requantized by the Concat
  branch("Neg", "ng", "sc", "zc");      // placed, and read again after the Concat
  IntAttr(b.Node("Concat", {"sgd", "thd", "ngd"}, {"c"}), "axis", 1);
  b.Node("QuantizeLinear", {"c", "sc", "zc"}, {"cq"});
  b.Node("DequantizeLinear", {"cq", "sc", "zc"}, {"y"});
  b.Node("Add", {"sgd", "ngd"}, {"s"});
  b.Node("QuantizeLinear", {"s", "sa", "za"}, {"sq"});
  b.Node("DequantizeLinear", {"sq", "sa", "za"}, {"y2"});
  CHECK(PlacedCounts(*Load(b, false)) == std::vector<std::string>{"2 of 3"});
  CheckSameOutputs(b, {Ramp(105)});
}

// An int8 conv (weights and bias through DequantizeLinear) from "xd" to `name` + "d", its
// output quantized with s/z.
void QdqConv(Builder& b, const std::string& name, int64_t cin, int64_t cout, int64_t k, int64_t group,
             const std::string& s = "sx", const std::string& z = "zx") {
  const int64_t per_group = cin / group;
  std::vector<int> w(static_cast<size_t>(cout * per_group * k * k)), bias(static_cast<size_t>(cout));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int>((i * 37 + static_cast<size_t>(cout) * 11) % 255) - 127;
  for (size_t i = 0; i < bias.size(); ++i) bias[i] = static_cast<int>(i * 97 % 400) - 200;
  b.InitI8(name + "_w", {cout, per_group, k, k}, w).Init(name + "_ws", {}, {0.004f}).InitI8(name + "_wz", {}, {0});
  b.InitInts(name + "_b", {cout}, {bias.begin(), bias.end()}, onnx::TensorProto::INT32);
  b.Init(name + "_bs", {}, {0.03f * 0.004f}).InitInts(name + "_bz", {}, {0}, onnx::TensorProto::INT32);
  b.Node("DequantizeLinear", {name + "_w", name + "_ws", name + "_wz"}, {name + "_wd"});
  b.Node("DequantizeLinear", {name + "_b", name + "_bs", name + "_bz"}, {name + "_bd"});
  auto* conv = b.Node("Conv", {"xd", name + "_wd", name + "_bd"}, {name});
  IntsAttr(conv, "kernel_shape", {k, k});
  IntsAttr(conv, "pads", {k / 2, k / 2, k / 2, k / 2});
  IntAttr(conv, "group", group);
  b.Node("QuantizeLinear", {name, s, z}, {name + "q"});
  b.Node("DequantizeLinear", {name + "q", s, z}, {name + "d"});
}

// Every kind of producer writing its part, the parts in the reverse of the order they are
// produced and of sizes that are no multiple of a vector: a producer storing past its part's
// end would overwrite the part after it, written before (the step order is asserted).
TEST_CASE("int8 producers of every kind write their Concat parts and nothing past them", "[engine][concat][tiers]") {
  Builder b(13);
  b.Input("x", {1, 5, 7, 9}).Output("y");
  b.Init("sx", {}, {0.03f}).InitI8("zx", {}, {2});
  b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
  b.Node("Tanh", {"xd"}, {"th"});
  b.Node("QuantizeLinear", {"th", "sx", "zx"}, {"thq"});
  b.Node("DequantizeLinear", {"thq", "sx", "zx"}, {"thd"});
  QdqConv(b, "pw", 5, 7, 1, 1);  // a GEMM
  QdqConv(b, "c3", 5, 3, 3, 1);  // a 3x3 conv
  QdqConv(b, "dw", 5, 5, 3, 5);  // depthwise
  auto* pool = b.Node("MaxPool", {"xd"}, {"mp"});
  IntsAttr(pool, "kernel_shape", {3, 3});
  IntsAttr(pool, "pads", {1, 1, 1, 1});
  b.Node("QuantizeLinear", {"mp", "sx", "zx"}, {"mpq"});
  b.Node("DequantizeLinear", {"mpq", "sx", "zx"}, {"mpd"});
  b.Node("Sigmoid", {"xd"}, {"sg"});
  b.Node("QuantizeLinear", {"sg", "sx", "zx"}, {"sgq"});
  b.Node("DequantizeLinear", {"sgq", "sx", "zx"}, {"sgd"});
  b.Node("Add", {"sgd", "mpd"}, {"ad"});
  b.Node("QuantizeLinear", {"ad", "sx", "zx"}, {"adq"});
  b.Node("DequantizeLinear", {"adq", "sx", "zx"}, {"add"});
  // the steps run: Sigmoid, MaxPool, Add, Tanh, the 1x1, 3x3 and depthwise convs (the last
  // part, Sigmoid's, is the only one with no part after it)
  IntAttr(b.Node("Concat", {"dwd", "c3d", "pwd", "thd", "add", "mpd", "sgd"}, {"c"}), "axis", 1);
  b.Node("QuantizeLinear", {"c", "sx", "zx"}, {"cq"});
  b.Node("DequantizeLinear", {"cq", "sx", "zx"}, {"y"});
  const auto model = Load(b, false);
  std::string order;
  for (const std::string& step : model->StepSummary()) order += step.substr(0, step.find(' ')) + " ";
  CHECK(order == "QuantizeLinear Sigmoid MaxPool Add Tanh QConv QConv QConv Concat DequantizeLinear ");
  CHECK(PlacedCounts(*model) == std::vector<std::string>{"7 of 7"});
  CheckSameOutputs(b, {Ramp(5 * 7 * 9)});
}

// Conv outputs the Concat would requantize: the conv requantizes them itself (an epilogue
// lookup, composed with a folded activation's) and writes them in place, unless something else
// reads them or the Concat clamps (a Relu after it).
TEST_CASE("int8 convs requantize their Concat inputs themselves and write them in place", "[engine][concat][tiers]") {
  for (bool relu : {false, true}) {
    Builder b(14);  // HardSwish
    b.Input("x", {1, 6, 5, 5}).Output("y").Output("y2");
    b.Init("sx", {}, {0.03f}).InitI8("zx", {}, {2});
    b.Init("s1", {}, {0.07f}).InitI8("z1", {}, {-9}).Init("s2", {}, {0.013f}).InitI8("z2", {}, {4});
    b.Init("sc", {}, {0.04f}).InitI8("zc", {}, {-1});
    b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
    QdqConv(b, "a", 6, 4, 1, 1, "s1", "z1");  // requantized by its conv
    QdqConv(b, "h", 6, 5, 3, 1, "s2", "z2");  // HardSwish, then requantized: one table
    b.Node("HardSwish", {"hd"}, {"hs"});
    b.Node("QuantizeLinear", {"hs", "s1", "z1"}, {"hsq"});
    b.Node("DequantizeLinear", {"hsq", "s1", "z1"}, {"hsd"});
    QdqConv(b, "r", 6, 3, 1, 1, "s2", "z2");  // also read by the Add: requantized by the Concat
    IntAttr(b.Node("Concat", {"ad", "hsd", "rd"}, {"c"}), "axis", 1);
    if (relu) b.Node("Relu", {"c"}, {"cr"});
    b.Node("QuantizeLinear", {relu ? "cr" : "c", "sc", "zc"}, {"cq"});
    b.Node("DequantizeLinear", {"cq", "sc", "zc"}, {"y"});
    b.Node("Add", {"rd", "rd"}, {"s"});
    b.Node("QuantizeLinear", {"s", "s2", "z2"}, {"sq"});
    b.Node("DequantizeLinear", {"sq", "s2", "z2"}, {"y2"});
    INFO((relu ? "Relu after the Concat" : "no Relu"));
    const auto model = Load(b, false);
    int requantizing = 0;
    for (const std::string& step : model->StepSummary()) requantizing += step.find("+ Requantize") != std::string::npos;
    CHECK(requantizing == (relu ? 0 : 2));
    CHECK(PlacedCounts(*model) == std::vector<std::string>{relu ? "none" : "2 of 3"});
    CheckSameOutputs(b, {Ramp(150)});
  }
}

// A detector neck: conv -> nearest Resize x2 -> Concat. The conv requantizes for the Concat
// before the Resize (which moves codes: the same bytes), and the Resize writes its part in
// place; not where the conv's output is read elsewhere too, nor where a Relu follows the Concat.
TEST_CASE("a conv requantizes its Concat input through a nearest Resize", "[engine][concat][tiers]") {
  for (bool relu : {false, true}) {
    Builder b(13);
    b.Input("x", {1, 6, 4, 4}).Output("y").Output("y2");
    b.Init("sx", {}, {0.03f}).InitI8("zx", {}, {2});
    b.Init("s1", {}, {0.07f}).InitI8("z1", {}, {-9}).Init("s2", {}, {0.013f}).InitI8("z2", {}, {4});
    b.Init("sc", {}, {0.04f}).InitI8("zc", {}, {-1}).Init("up", {4}, {1, 1, 2, 2});
    b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
    QdqConv(b, "a", 6, 3, 1, 1, "s1", "z1");
    b.Node("Resize", {"ad", "", "up"}, {"u"});
    b.Node("QuantizeLinear", {"u", "s1", "z1"}, {"uq"});
    b.Node("DequantizeLinear", {"uq", "s1", "z1"}, {"ud"});
    QdqConv(b, "h", 6, 2, 3, 1, "s2", "z2");  // also read by the Relu below: not folded
    b.Node("Resize", {"hd", "", "up"}, {"v"});
    b.Node("QuantizeLinear", {"v", "s2", "z2"}, {"vq"});
    b.Node("DequantizeLinear", {"vq", "s2", "z2"}, {"vd"});
    IntAttr(b.Node("Concat", {"ud", "vd"}, {"c"}), "axis", 1);
    if (relu) b.Node("Relu", {"c"}, {"cr"});
    b.Node("QuantizeLinear", {relu ? "cr" : "c", "sc", "zc"}, {"cq"});
    b.Node("DequantizeLinear", {"cq", "sc", "zc"}, {"y"});
    b.Node("Relu", {"hd"}, {"r"});
    b.Node("QuantizeLinear", {"r", "s2", "z2"}, {"rq"});
    b.Node("DequantizeLinear", {"rq", "s2", "z2"}, {"y2"});
    INFO((relu ? "Relu after the Concat" : "no Relu"));
    const auto model = Load(b, false);
    int requantizing = 0;
    for (const std::string& step : model->StepSummary()) requantizing += step.find("+ Requantize") != std::string::npos;
    CHECK(requantizing == (relu ? 0 : 1));
    CHECK(PlacedCounts(*model) == std::vector<std::string>{relu ? "none" : "1 of 2"});
    CheckSameOutputs(b, {Ramp(96)});
  }
}

// Parts that interleave (the last axis, a batch of two) and that the Concat requantizes, each
// part shorter than a call is worth: every such input is requantized whole into scratch, then
// its parts copied (QConcatStep's staged inputs). The bytes must be each element's own
// requantization at its place: computed here from the definition (QuantizeScalar of the input,
// QRequantScalar of the code), at every tier.
TEST_CASE("int8 Concat of short interleaved parts requantizes each element at its place", "[engine][concat][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  const std::vector<int64_t> widths = {5, 7, 3, 1};
  const float so = 0.04f;
  const int8_t zo = -1;
  const std::vector<float> scales = {0.011f, 0.04f, 0.07f, 0.023f};  // part 1 has the output's parameters
  const std::vector<int8_t> zeros = {9, -1, -20, 0};
  Builder b(13);
  for (size_t i = 0; i < widths.size(); ++i) b.Input("p" + std::to_string(i), {2, 3, 4, widths[i]});
  b.Output("y");
  b.Init("so", {}, {so}).InitI8("zo", {}, {zo});
  std::vector<std::string> parts;
  std::vector<std::vector<float>> inputs;
  for (size_t i = 0; i < widths.size(); ++i) {
    const std::string n = "p" + std::to_string(i);
    b.Init(n + "s", {}, {scales[i]}).InitI8(n + "z", {}, {zeros[i]});
    b.Node("QuantizeLinear", {n, n + "s", n + "z"}, {n + "q"});
    b.Node("DequantizeLinear", {n + "q", n + "s", n + "z"}, {n + "d"});
    parts.push_back(n + "d");
  }
  IntAttr(b.Node("Concat", parts, {"c"}), "axis", 3);
  b.Node("QuantizeLinear", {"c", "so", "zo"}, {"cq"});
  b.Node("DequantizeLinear", {"cq", "so", "zo"}, {"y"});
  const auto model = Load(b, false);
  CHECK(PlacedCounts(*model) == std::vector<std::string>{"none"});
  for (size_t i = 0; i < widths.size(); ++i) {
    inputs.push_back(Ramp(static_cast<size_t>(2 * 3 * 4 * widths[i])));
    for (float& v : inputs.back()) v *= 1.0f + static_cast<float>(i);  // past every part's range
  }
  std::vector<float> want;
  for (int64_t row = 0; row < 2 * 3 * 4; ++row) {
    for (size_t i = 0; i < widths.size(); ++i) {
      for (int64_t w = 0; w < widths[i]; ++w) {
        int8_t q = 0, r = 0;
        QuantizeScalar(&inputs[i][static_cast<size_t>(row * widths[i] + w)], 1, scales[i], zeros[i], &q);
        QRequantScalar({&q, 1, scales[i] / so, zeros[i], zo, -128, 127, &r});
        want.push_back(static_cast<float>(r - zo) * so);
      }
    }
  }
  for (KernelTier tier : tiers) {
    const auto got = RunAll(model, inputs, tier);
    INFO("tier " << KernelTierName(tier));
    REQUIRE(got.size() == 1);
    CHECK(got[0] == want);
  }
}

}  // namespace
}  // namespace edge::engine::testing
