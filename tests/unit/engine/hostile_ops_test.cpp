// Hostile probes of the new engine operators: each model must either be refused at load with
// a clear message or run to the right numbers. Never a crash, hang or unbounded allocation.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/onnx_builder.h"

namespace edge::engine::testing {
namespace {

using TP = onnx::TensorProto;
using Floats = std::vector<float>;


// Loads; a refusal is acceptable and reported.
std::shared_ptr<const Model> LoadOrNull(const Builder& b) {
  auto m = b.Load();
  if (!m) {
    WARN("refused: " << m.error().message);
    return nullptr;
  }
  return *m;
}

TEST_CASE("hostile ops - Pad of a rank-8 tensor whose padded size overflows int64", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1, 1, 1, 1, 1, 1, 1, 1}).Output("y");
  std::vector<int64_t> pads(16, 4096);
  b.InitInts("pads", {16}, pads, TP::INT64);
  b.Node("Pad", {"x", "pads"}, {"y"});
  auto m = b.Load();
  REQUIRE_FALSE(m.has_value());  // 8193^8 elements: far beyond 2^28
}

TEST_CASE("hostile ops - edge Pad of a rank-8 tensor whose padded size overflows int64", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {2, 2, 2, 2, 2, 2, 2, 2}).Output("y");
  std::vector<int64_t> pads(16, 4096);
  b.InitInts("pads", {16}, pads, TP::INT64);
  StrAttr(b.Node("Pad", {"x", "pads"}, {"y"}), "mode", "edge");
  auto m = b.Load();
  REQUIRE_FALSE(m.has_value());
}

TEST_CASE("hostile ops - reflect Pad by dim-1 each side and edge Pad of a size-1 axis", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {3}).Output("y");
    b.InitInts("pads", {2}, {2, 2}, TP::INT64);
    StrAttr(b.Node("Pad", {"x", "pads"}, {"y"}), "mode", "reflect");
    CHECK(RunAll(LoadOk(b), {{1, 2, 3}})[0] == Floats{3, 2, 1, 2, 3, 2, 1});
  }
  {
    Builder b(13);
    b.Input("x", {1, 2}).Output("y");
    b.InitInts("pads", {4}, {2, 1, 1, 0}, TP::INT64);
    StrAttr(b.Node("Pad", {"x", "pads"}, {"y"}), "mode", "edge");
    CHECK(RunAll(LoadOk(b), {{5, 6}})[0] == Floats{5, 5, 6, 5, 5, 6, 5, 5, 6, 5, 5, 6});
  }
  {  // int8 reflect
    Builder b(13);
    b.Input("x", {2, 3}, TP::INT8).Output("y");
    b.InitInts("pads", {4}, {1, 2, 1, 2}, TP::INT64);
    StrAttr(b.Node("Pad", {"x", "pads"}, {"y"}), "mode", "reflect");
    CHECK(RunAll(LoadOk(b), {{1, 2, 3, 4, 5, 6}})[0] ==
          Floats{6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1, 6, 5, 4, 5, 6, 5, 4, 3, 2, 1, 2, 3, 2, 1});
  }
}

TEST_CASE("hostile ops - reflect Pad of a size-1 axis is refused negative pads refused", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {1, 3}).Output("y");
    b.InitInts("pads", {4}, {1, 0, 0, 0}, TP::INT64);
    StrAttr(b.Node("Pad", {"x", "pads"}, {"y"}), "mode", "reflect");
    CHECK_FALSE(b.Load().has_value());
  }
  {
    Builder b(13);
    b.Input("x", {4}).Output("y");
    b.InitInts("pads", {2}, {-1, 0}, TP::INT64);
    b.Node("Pad", {"x", "pads"}, {"y"});
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{1, 2, 3, 4}})[0] == Floats{2, 3, 4});
  }
}

TEST_CASE("hostile ops - Cast of NaN Inf and huge floats to every integer type", "[hostile-ops]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  const Floats x = {nan, inf, -inf, 1e30f, -1e30f, -1.0f};
  struct C { int32_t to; Floats want; };
  const std::vector<C> cases = {
      {TP::INT8, {0, 127, -128, 127, -128, -1}},
      {TP::UINT8, {0, 255, 0, 255, 0, 0}},
      {TP::INT32, {0, 2147483647.0f, -2147483648.0f, 2147483647.0f, -2147483648.0f, -1}},
      {TP::INT64, {0, 9.223372e18f, -9.223372e18f, 9.223372e18f, -9.223372e18f, -1}},
  };
  for (const auto& c : cases) {
    Builder b(13);
    b.Input("x", {6}).Output("y");
    IntAttr(b.Node("Cast", {"x"}, {"y"}), "to", c.to);
    auto m = LoadOrNull(b);
    if (!m) continue;
    INFO("to " << c.to);
    auto y = RunAll(m, {x})[0];
    for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == Approx(c.want[i]));
  }
}

TEST_CASE("hostile ops - other integer types uint16 uint32 int16 uint64 Cast", "[hostile-ops]") {
  for (int32_t to : {TP::UINT16, TP::INT16, TP::UINT32, TP::UINT64}) {
    Builder b(13);
    b.Input("x", {3}).Output("y");
    IntAttr(b.Node("Cast", {"x"}, {"y"}), "to", to);
    auto m = LoadOrNull(b);
    if (!m) continue;
    INFO("to " << to);
    auto y = RunAll(m, {{-1.0f, 70000.0f, 5.0f}})[0];
    CHECK(y[2] == 5.0f);
  }
}

TEST_CASE("hostile ops - int32 and int64 Div INT_MIN by -1 and by 0 at run time", "[hostile-ops]") {
  for (int32_t t : {TP::INT32, TP::INT64, TP::INT8}) {
    Builder b(14);
    b.Input("x", {3}, t).Input("d", {3}, t).Output("y");
    b.Node("Div", {"x", "d"}, {"y"});
    const float mn = t == TP::INT32 ? -2147483648.0f : t == TP::INT8 ? -128.0f : -9.223372e18f;
    auto y = RunAll(LoadOk(b), {{mn, 7, mn}, {-1, 0, 1}})[0];
    CHECK(y[0] == Approx(mn));  // wraps
    CHECK(y[1] == 0);
    CHECK(y[2] == Approx(mn));
  }
}

TEST_CASE("hostile ops - DequantizeLinear with scale 0 NaN negative and computed zero point", "[hostile-ops]") {
  Builder b(13);
  b.Input("q", {4}, TP::INT8).Input("s", {}).Input("z", {}, TP::INT8).Output("y");
  b.Node("DequantizeLinear", {"q", "s", "z"}, {"y"});
  auto m = LoadOk(b);
  CHECK(RunAll(m, {{-128, 127, 0, 5}, {-2.0f}, {127}})[0] == Floats{510, 0, 254, 244});
  CHECK(RunAll(m, {{-128, 127, 0, 5}, {0.0f}, {-128}})[0] == Floats{0, 0, 0, 0});
  auto y = RunAll(m, {{1, 2, 3, 4}, {std::numeric_limits<float>::quiet_NaN()}, {0}})[0];
  for (float v : y) CHECK(std::isnan(v));
  // A computed zero point beyond the int8 range is saturated at the API boundary.
  CHECK(RunAll(m, {{0, 0, 0, 0}, {1.0f}, {1000}})[0] == Floats{-127, -127, -127, -127});
}

TEST_CASE("hostile ops - QuantizeLinear with a computed scale of 0 NaN and negative", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {4}).Input("s", {}).Input("z", {}, TP::UINT8).Output("q");
  b.Node("QuantizeLinear", {"x", "s", "z"}, {"q"});
  auto m = LoadOk(b);
  // x / 0: +inf -> 255, -inf -> 0, 0/0 NaN -> ? (NaN saturates low, per the kernel)
  auto y = RunAll(m, {{1.0f, -1.0f, 0.0f, 3.0f}, {0.0f}, {10}})[0];
  CHECK(y[0] == 255);
  CHECK(y[1] == 0);
  CHECK(y[3] == 255);
  // negative scale flips the sign
  CHECK(RunAll(m, {{4.0f, -4.0f, 0.0f, 1.0f}, {-2.0f}, {10}})[0] == Floats{8, 12, 10, 10});
}

TEST_CASE("hostile ops - per-axis QuantizeLinear axis out of range length mismatch", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {2, 3}).Input("s", {3}).Output("q");
    IntAttr(b.Node("QuantizeLinear", {"x", "s"}, {"q"}), "axis", 5);
    CHECK_FALSE(b.Load().has_value());
  }
  {
    Builder b(13);
    b.Input("x", {2, 3}).Input("s", {2}).Output("q");
    IntAttr(b.Node("QuantizeLinear", {"x", "s"}, {"q"}), "axis", 1);
    CHECK_FALSE(b.Load().has_value());
  }
  {  // per-axis, axis -1, checked numerically
    Builder b(13);
    b.Input("x", {2, 3}).Input("s", {3}).Output("q");
    IntAttr(b.Node("QuantizeLinear", {"x", "s"}, {"q"}), "axis", -1);
    CHECK(RunAll(LoadOk(b), {{2, 2, 2, 4, 4, 4}, {1, 2, 4}})[0] == Floats{2, 1, 0, 4, 2, 1});
  }
  {  // per-axis DequantizeLinear with a middle axis
    Builder b(13);
    b.Input("q", {2, 2, 2}, TP::INT8).Input("s", {2}).Output("y");
    IntAttr(b.Node("DequantizeLinear", {"q", "s"}, {"y"}), "axis", 1);
    CHECK(RunAll(LoadOk(b), {{1, 1, 1, 1, 1, 1, 1, 1}, {1, 10}})[0] == Floats{1, 1, 10, 10, 1, 1, 10, 10});
  }
}

TEST_CASE("hostile ops - int8 and uint8 MaxPool with padding never see the pad value", "[hostile-ops]") {
  for (int32_t t : {TP::INT8, TP::UINT8}) {
    Builder b(12);
    b.Input("x", {1, 1, 2, 2}, t).Output("y");
    auto* n = b.Node("MaxPool", {"x"}, {"y"});
    IntsAttr(n, "kernel_shape", {2, 2});
    IntsAttr(n, "pads", {1, 1, 1, 1});
    auto m = LoadOrNull(b);
    if (!m) continue;
    INFO("type " << t);
    const Floats x = t == TP::INT8 ? Floats{-5, -6, -7, -8} : Floats{1, 2, 3, 4};
    const Floats want = t == TP::INT8 ? Floats{-5, -5, -6, -5, -5, -6, -7, -7, -8} : Floats{1, 2, 2, 3, 4, 4, 3, 4, 4};
    CHECK(RunAll(m, {x})[0] == want);
  }
}

TEST_CASE("hostile ops - Reduce with duplicate axes and keepdims 0 to rank 0", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {2, 3}).Output("y");
    auto* n = b.Node("ReduceSum", {"x"}, {"y"});
    // opset 13 ReduceSum takes axes as input; use ReduceMax which keeps the attribute
    n->set_op_type("ReduceMax");
    IntsAttr(n, "axes", {1, -1, 1});
    IntAttr(n, "keepdims", 0);
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{1, 5, 2, -1, -3, -2}})[0] == Floats{5, -1});
  }
  {
    Builder b(13);
    b.Input("x", {2, 3}).Output("y");
    auto* n = b.Node("ReduceProd", {"x"}, {"y"});
    IntAttr(n, "keepdims", 0);
    auto m = LoadOk(b);
    CHECK(m->outputs()[0].elements == 1);
    CHECK(RunAll(m, {{1, 2, 3, 4, 5, -6}})[0] == Floats{-720});
  }
  {
    Builder b(13);
    b.Input("x", {2, 3}).Output("y");
    IntsAttr(b.Node("ReduceL2", {"x"}, {"y"}), "axes", {2});
    CHECK_FALSE(b.Load().has_value());
  }
}

TEST_CASE("hostile ops - Reduce of a zero-size axis", "[hostile-ops]") {
  for (const char* op : {"ReduceMax", "ReduceSum", "ReduceMean", "ReduceProd", "ReduceLogSum"}) {
    Builder b(13);
    b.Input("x", {2, 0}).Output("y");
    IntsAttr(b.Node(op, {"x"}, {"y"}), "axes", {1});
    auto m = LoadOrNull(b);
    if (!m) continue;
    INFO(op);
    auto y = RunAll(m, {{}})[0];
    REQUIRE(y.size() == 2);
    // ONNX: sum 0, prod 1, max -inf (or lowest), mean NaN, logsum -inf
    if (std::string(op) == "ReduceSum") CHECK(y[0] == 0);
    if (std::string(op) == "ReduceProd") CHECK(y[0] == 1);
  }
}

TEST_CASE("hostile ops - Hardmax LogSoftmax axis out of range", "[hostile-ops]") {
  for (const char* op : {"Hardmax", "LogSoftmax"}) {
    for (int64_t opset : {11, 13}) {
      Builder b(opset);
      b.Input("x", {2, 3}).Output("y");
      IntAttr(b.Node(op, {"x"}, {"y"}), "axis", 2);
      CHECK_FALSE(b.Load().has_value());
    }
  }
  {  // Hardmax ties: the first maximum
    Builder b(13);
    b.Input("x", {1, 4}).Output("y");
    b.Node("Hardmax", {"x"}, {"y"});
    CHECK(RunAll(LoadOk(b), {{1, 3, 3, 2}})[0] == Floats{0, 1, 0, 0});
    const float nan = std::numeric_limits<float>::quiet_NaN();
    auto y = RunAll(LoadOk(b), {{nan, nan, nan, nan}})[0];
    float s = 0;
    for (float v : y) s += v;
    CHECK(s == 1);  // exactly one 1 even for NaN rows
  }
}

TEST_CASE("hostile ops - variadic Sum with no inputs and Max of 1000 inputs", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {2}).Output("y");
    b.Node("Sum", {}, {"y"});
    CHECK_FALSE(b.Load().has_value());
  }
  {
    Builder b(13);
    b.Input("x", {2}).Output("y");
    std::vector<std::string> ins(1000, "x");
    b.Node("Max", ins, {"y"});
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{1, -2}})[0] == Floats{1, -2});
  }
  {
    Builder b(13);
    b.Input("x", {2}).Output("y");
    std::vector<std::string> ins(1000, "x");
    b.Node("Mean", ins, {"y"});
    auto m = LoadOrNull(b);
    if (m) {
      auto y = RunAll(m, {{1, -2}})[0];
      CHECK(y[0] == Approx(1));
      CHECK(y[1] == Approx(-2));
    }
  }
}

TEST_CASE("hostile ops - LayerNormalization axis 0 rank 1 bad scale negative epsilon", "[hostile-ops]") {
  {
    Builder b(17);
    b.Input("x", {4}).Output("y");
    b.Init("s", {4}, {1, 1, 1, 1});
    IntAttr(b.Node("LayerNormalization", {"x", "s"}, {"y"}), "axis", 0);
    auto y = RunAll(LoadOk(b), {{1, 2, 3, 4}})[0];
    CHECK(y[0] == Approx(-1.3416f).epsilon(1e-3));
  }
  {
    Builder b(17);
    b.Input("x", {2, 4}).Output("y");
    b.Init("s", {3}, {1, 1, 1});
    b.Node("LayerNormalization", {"x", "s"}, {"y"});
    CHECK_FALSE(b.Load().has_value());
  }
  {  // scale that broadcasts over the reduced axes only as [2,4] but axis=-1 (per-row scale)
    Builder b(17);
    b.Input("x", {2, 4}).Output("y");
    b.Init("s", {2, 1}, {1, 2});
    b.Node("LayerNormalization", {"x", "s"}, {"y"});
    auto m = LoadOrNull(b);
    if (m) WARN("LayerNorm accepted a Scale of shape [2,1] for normalized shape [4]");
  }
  {
    Builder b(17);
    b.Input("x", {1, 2}).Output("y");
    b.Init("s", {2}, {1, 1});
    auto* n = b.Node("LayerNormalization", {"x", "s"}, {"y"});
    FloatAttr(n, "epsilon", -1.0f);
    auto m = LoadOrNull(b);
    if (m) {
      auto y = RunAll(m, {{3, 3}})[0];
      WARN("negative epsilon gives " << y[0] << " " << y[1]);
    }
  }
}

TEST_CASE("hostile ops - BatchNormalization computed params of the wrong length", "[hostile-ops]") {
  Builder b(15);
  b.Input("x", {1, 3, 2}).Input("s", {2}).Input("bias", {2}).Input("mean", {2}).Input("var", {2}).Output("y");
  b.Node("BatchNormalization", {"x", "s", "bias", "mean", "var"}, {"y"});
  CHECK_FALSE(b.Load().has_value());
}

TEST_CASE("hostile ops - BatchNormalization computed params of length 1 broadcast silently", "[hostile-ops]") {
  Builder b(15);
  b.Input("x", {1, 3, 2}).Input("s", {1}).Input("bias", {1}).Input("mean", {1}).Input("var", {1}).Output("y");
  b.Node("BatchNormalization", {"x", "s", "bias", "mean", "var"}, {"y"});
  auto m = LoadOrNull(b);
  if (m) WARN("BatchNorm accepted 1-element params for 3 channels");
}

TEST_CASE("hostile ops - Conv 3-D pads past the input huge dilation group mismatch", "[hostile-ops]") {
  {  // zero output size
    Builder b(13);
    b.Input("x", {1, 1, 2, 2, 2}).Output("y");
    b.Init("w", {1, 1, 2, 2, 2}, Floats(8, 1.0f));
    IntsAttr(b.Node("Conv", {"x", "w"}, {"y"}), "dilations", {1000000, 1, 1});
    CHECK_FALSE(b.Load().has_value());
  }
  {  // huge dilation overflow
    Builder b(13);
    b.Input("x", {1, 1, 2, 2, 2}).Output("y");
    b.Init("w", {1, 1, 2, 2, 2}, Floats(8, 1.0f));
    auto* n = b.Node("Conv", {"x", "w"}, {"y"});
    IntsAttr(n, "dilations", {int64_t{1} << 62, 1, 1});
    CHECK_FALSE(b.Load().has_value());
  }
  {  // pads larger than the input: output is only the bias/zeros except the centre
    Builder b(13);
    b.Input("x", {1, 1, 1, 1, 1}).Output("y");
    b.Init("w", {1, 1, 1, 1, 1}, {2.0f});
    IntsAttr(b.Node("Conv", {"x", "w"}, {"y"}), "pads", {2, 0, 0, 2, 0, 0});
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{3}})[0] == Floats{0, 0, 6, 0, 0});
  }
  {  // group mismatch
    Builder b(13);
    b.Input("x", {1, 3, 2, 2, 2}).Output("y");
    b.Init("w", {2, 2, 1, 1, 1}, Floats(4, 1.0f));
    IntAttr(b.Node("Conv", {"x", "w"}, {"y"}), "group", 2);
    CHECK_FALSE(b.Load().has_value());
  }
  {  // negative pads
    Builder b(13);
    b.Input("x", {1, 1, 3, 3, 3}).Output("y");
    b.Init("w", {1, 1, 1, 1, 1}, {1.0f});
    IntsAttr(b.Node("Conv", {"x", "w"}, {"y"}), "pads", {-1, 0, 0, 0, 0, 0});
    auto m = LoadOrNull(b);
    if (m) {
      Floats x(27);
      for (int i = 0; i < 27; ++i) x[i] = static_cast<float>(i);
      auto y = RunAll(m, {x})[0];
      REQUIRE(y.size() == 18);
      CHECK(y[0] == 9);
    }
  }
  {  // stride/dilation/pads numerics in depth, grouped
    Builder b(13);
    b.Input("x", {1, 2, 5, 1, 1}).Output("y");
    b.Init("w", {2, 1, 2, 1, 1}, {1, 10, 100, 1000});
    auto* n = b.Node("Conv", {"x", "w"}, {"y"});
    IntAttr(n, "group", 2);
    IntsAttr(n, "dilations", {2, 1, 1});
    IntsAttr(n, "strides", {2, 1, 1});
    IntsAttr(n, "pads", {1, 0, 0, 1, 0, 0});
    // channel 0: x=[1..5] padded [0,1,2,3,4,5,0]; taps at t, t+2 -> out t=0,2,4: 0*1+2*10, 2+40, 4+0
    auto y = RunAll(LoadOk(b), {{1, 2, 3, 4, 5, 1, 2, 3, 4, 5}})[0];
    CHECK(y == Floats{20, 42, 4, 2000, 4200, 400});
  }
}

TEST_CASE("hostile ops - Conv 3-D against the arena limit", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1, 1, 64, 64, 64}).Output("y");
  b.Init("w", {16, 1, 1, 1, 1}, Floats(16, 1.0f));
  b.Node("Conv", {"x", "w"}, {"y"});
  b.Node("Relu", {"y"}, {"z"});
  b.proto().mutable_graph()->mutable_output(0)->set_name("z");
  std::string bytes;
  b.proto().SerializeToString(&bytes);
  LoadOptions opt;
  opt.max_arena_bytes = 1 << 20;
  auto m = Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, opt);
  CHECK_FALSE(m.has_value());
}

TEST_CASE("hostile ops - 3-D AveragePool with pads and count_include_pad", "[hostile-ops]") {
  for (int64_t include : {0, 1}) {
    Builder b(13);
    b.Input("x", {1, 1, 2, 2, 2}).Output("y");
    auto* n = b.Node("AveragePool", {"x"}, {"y"});
    IntsAttr(n, "kernel_shape", {2, 2, 2});
    IntsAttr(n, "pads", {1, 1, 1, 0, 0, 0});
    IntAttr(n, "count_include_pad", include);
    auto m = LoadOk(b);
    Floats x = {1, 2, 3, 4, 5, 6, 7, 8};
    auto y = RunAll(m, {x})[0];
    REQUIRE(y.size() == 8);
    // corner (0,0,0): only x[0]=1 valid
    INFO("count_include_pad " << include);
    CHECK(y[0] == Approx(include ? 1.0f / 8 : 1.0f));
    // last (1,1,1): all 8 valid
    CHECK(y[7] == Approx(4.5f));
    // (0,1,1): window d in {-1,0}, h {0,1}, w {0,1}: valid x[0..3] sum 10
    CHECK(y[3] == Approx(include ? 10.0f / 8 : 2.5f));
  }
}

TEST_CASE("hostile ops - 3-D AveragePool ceil_mode with count_include_pad", "[hostile-ops]") {
  Builder b(19);
  b.Input("x", {1, 1, 3, 1, 1}).Output("y");
  auto* n = b.Node("AveragePool", {"x"}, {"y"});
  IntsAttr(n, "kernel_shape", {2, 1, 1});
  IntsAttr(n, "strides", {2, 1, 1});
  IntAttr(n, "ceil_mode", 1);
  IntAttr(n, "count_include_pad", 1);
  auto m = LoadOrNull(b);
  if (!m) return;
  auto y = RunAll(m, {{2, 4, 6}})[0];
  REQUIRE(y.size() == 2);
  CHECK(y[0] == Approx(3));
  // ONNX (reference and ORT): the window past the end is not padding, divides by 1
  CHECK(y[1] == Approx(6));
}

TEST_CASE("hostile ops - 3-D MaxPool with dilations ceil_mode and pads", "[hostile-ops]") {
  Builder b(12);
  b.Input("x", {1, 1, 5, 1, 2}).Output("y");
  auto* n = b.Node("MaxPool", {"x"}, {"y"});
  IntsAttr(n, "kernel_shape", {2, 1, 2});
  IntsAttr(n, "dilations", {2, 1, 1});
  IntsAttr(n, "strides", {2, 1, 1});
  IntsAttr(n, "pads", {1, 0, 0, 0, 0, 0});
  IntAttr(n, "ceil_mode", 1);
  auto m = LoadOrNull(b);
  if (!m) return;
  // depth values per d: row max over w of [d*2, d*2+1] with x = -(index)
  Floats x(10);
  for (int i = 0; i < 10; ++i) x[i] = static_cast<float>(-i);
  // padded depth -1..4, taps at s, s+2 ; out size ceil((5+1-3)/2)+1 = 3 -> starts -1,1,3
  // start -1: taps -1(pad), 1 -> max over d=1 -> max(-2,-3) = -2
  // start 1: taps 1,3 -> -2
  // start 3: taps 3,5(out) -> d=3 -> -6
  auto y = RunAll(m, {x})[0];
  CHECK(y == Floats{-2, -2, -6});
}

TEST_CASE("hostile ops - rank-5 inputs to 4-D ops", "[hostile-ops]") {
  for (const char* op : {"GlobalMaxPool", "LRN", "InstanceNormalization", "DepthToSpace", "Resize", "Upsample"}) {
    Builder b(13);
    b.Input("x", {1, 2, 2, 2, 2}).Output("y");
    b.Node(op, {"x"}, {"y"});
    auto m = LoadOrNull(b);
    if (m) {
      INFO(op);
      RunAll(m, {Floats(16, 1.0f)});
    }
  }
  {  // GlobalAveragePool of 5-D, numerics
    Builder b(13);
    b.Input("x", {1, 2, 2, 1, 2}).Output("y");
    b.Node("GlobalAveragePool", {"x"}, {"y"});
    CHECK(RunAll(LoadOk(b), {{1, 2, 3, 4, 10, 20, 30, 40}})[0] == Floats{2.5f, 25});
  }
}

TEST_CASE("hostile ops - int8 QDQ unary ops with a scale of 0 inf or NaN", "[hostile-ops]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  for (float s : {0.0f, inf, nan, -1.0f}) {
    for (const char* op : {"Exp", "Tanh", "Sqrt", "Log", "Gelu", "Abs"}) {
      Builder b(20);
      b.Input("x", {4}).Output("y");
      b.Init("s", {}, {s});
      b.InitI8("z", {}, {0});
      b.Init("s2", {}, {0.1f});
      b.Node("QuantizeLinear", {"x", "s2", "z"}, {"q"});
      b.Node("DequantizeLinear", {"q", "s2", "z"}, {"dq"});
      b.Node(op, {"dq"}, {"u"});
      b.Node("QuantizeLinear", {"u", "s", "z"}, {"q2"});
      b.Node("DequantizeLinear", {"q2", "s", "z"}, {"y"});
      auto m = LoadOrNull(b);
      if (m) {
        INFO(op << " scale " << s);
        RunAll(m, {{-1, 0, 1, 2}});
      }
    }
  }
}


TEST_CASE("hostile ops - integer tensors through float-only ops keep exact values", "[hostile-ops]") {
  const float big = 16777217.0f;  // not representable: use an int64 computed value instead
  (void)big;
  // x + 2^40 + 1 in int64, then the op, then - 2^40: exact answers are small integers.
  const int64_t k = (int64_t{1} << 40) + 1;
  struct C { std::string op; std::vector<std::string> extra; Floats want; };
  const std::vector<C> cases = {
      {"Abs", {}, {3}},
      {"Neg", {}, {0}},  // placeholder, checked below
      {"Sum", {"kx", "kx"}, {0}},
      {"Max", {"kx"}, {2}},
      {"ReduceMax", {}, {2}},
      {"ReduceSum", {}, {2}},
  };
  for (const auto& c : cases) {
    Builder b(13);
    b.Input("x", {1}, TP::INT64).Output("y");
    b.InitInts("k", {1}, {k}, TP::INT64);
    b.Node("Add", {"x", "k"}, {"kx"});  // 2^40 + 1 + x
    std::vector<std::string> ins = {"kx"};
    for (const auto& e : c.extra) ins.push_back(e);
    b.Node(c.op, ins, {"r"});
    b.Node("Sub", {"r", "k"}, {"y"});
    auto m = LoadOrNull(b);
    if (!m) continue;
    INFO(c.op << " output type " << static_cast<int>(m->outputs()[0].dtype));
    auto y = RunAll(m, {{2}})[0];
    if (c.op == "Abs" || c.op == "Max" || c.op == "ReduceMax" || c.op == "ReduceSum") CHECK(y[0] == 2);
    if (c.op == "Sum") CHECK(y[0] == Approx(2.0 * static_cast<double>(k) + 6));
  }
}

TEST_CASE("hostile ops - Abs and Neg of int8 -128 and int32 extremes", "[hostile-ops]") {
  for (const char* op : {"Abs", "Neg", "Sign", "Relu"}) {
    for (int32_t t : {TP::INT8, TP::INT32}) {
      Builder b(14);
      b.Input("x", {3}, t).Output("y");
      b.Node(op, {"x"}, {"y"});
      auto m = LoadOrNull(b);
      if (!m) continue;
      INFO(op << " type " << t);
      const float mn = t == TP::INT8 ? -128.0f : -2147483648.0f;
      auto y = RunAll(m, {{mn, -3, 16777217.0f}})[0];
      WARN(op << " type " << t << " -> " << y[0] << " " << y[1] << " " << y[2] << " dtype "
              << static_cast<int>(m->outputs()[0].dtype));
    }
  }
}

TEST_CASE("hostile ops - int32 ReduceSum and variadic Sum stay exact above 2^24", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {2}, TP::INT32).Output("y");
    IntAttr(b.Node("ReduceSum", {"x"}, {"y"}), "keepdims", 0);
    auto m = LoadOrNull(b);
    if (m) {
      INFO("dtype " << static_cast<int>(m->outputs()[0].dtype));
      // 2^30 + 1 and 2^30 + 2: sum 2^31 + 3 wraps in int32; in float it is 2^31
      auto y = RunAll(m, {{1073741825.0f, 1.0f}})[0];
      CHECK(static_cast<double>(y[0]) == 1073741824.0 + 2.0);  // exact: 2^30 + 2 (float output rounds to 2^30)
    }
  }
  {
    Builder b(13);
    b.Input("x", {1}, TP::INT64).Output("y");
    b.InitInts("k", {1}, {(int64_t{1} << 40) + 1}, TP::INT64);
    b.InitInts("mk", {1}, {-(int64_t{1} << 40)}, TP::INT64);
    b.Node("Sum", {"x", "k", "mk"}, {"y"});  // x + 1 exactly
    auto m = LoadOrNull(b);
    if (m) {
      INFO("dtype " << static_cast<int>(m->outputs()[0].dtype));
      CHECK(RunAll(m, {{5}})[0] == Floats{6});
    }
  }
  {
    Builder b(13);
    b.Input("x", {1}, TP::INT64).Input("z", {1}, TP::INT64).Output("y");
    b.InitInts("k", {1}, {(int64_t{1} << 40) + 1}, TP::INT64);
    b.Node("Max", {"x", "k", "z"}, {"m"});
    b.Node("Sub", {"m", "k"}, {"y"});  // exactly 0
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{5}, {7}})[0] == Floats{0});
  }
  {
    Builder b(13);
    b.Input("x", {2}, TP::INT32).Input("z", {2}, TP::INT32).Output("y");
    b.Node("Mean", {"x", "z"}, {"y"});
    auto m = LoadOrNull(b);
    if (m) {
      INFO("dtype " << static_cast<int>(m->outputs()[0].dtype));
      auto y = RunAll(m, {{3, -3}, {4, -4}})[0];
      WARN("int32 Mean(3,4), Mean(-3,-4) -> " << y[0] << " " << y[1]);
    }
  }
}

TEST_CASE("hostile ops - int64 Pad constant_value beyond float precision", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1}, TP::INT64).Output("y");
  b.InitInts("pads", {2}, {1, 0}, TP::INT64);
  b.InitInts("v", {}, {(int64_t{1} << 40) + 1}, TP::INT64);
  b.InitInts("k", {1}, {int64_t{1} << 40}, TP::INT64);
  b.Node("Pad", {"x", "pads", "v"}, {"p"});
  b.Node("Sub", {"p", "k"}, {"y"});
  auto m = LoadOrNull(b);
  if (m) CHECK(RunAll(m, {{0}})[0] == Floats{1, -1099511627776.0f});
}

TEST_CASE("hostile ops - 3-D MaxPool with an Indices output or storage_order", "[hostile-ops]") {
  Builder b(12);
  b.Input("x", {1, 1, 2, 2, 2}).Output("y").Output("i");
  IntsAttr(b.Node("MaxPool", {"x"}, {"y", "i"}), "kernel_shape", {2, 2, 2});
  auto m = LoadOrNull(b);
  if (m) {
    auto outs = RunAll(m, {{1, 2, 3, 4, 5, 6, 9, 8}});
    CHECK(outs[0] == Floats{9});
    CHECK(outs[1] == Floats{6});
  }
}

TEST_CASE("hostile ops - 3-D Conv SAME_UPPER stride 2 and depthwise with bias", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1, 2, 4, 1, 1}).Output("y");
  b.Init("w", {2, 1, 3, 1, 1}, {1, 1, 1, 1, 0, -1});
  b.Init("bias", {2}, {100, 200});
  auto* n = b.Node("Conv", {"x", "w", "bias"}, {"y"});
  IntAttr(n, "group", 2);
  IntsAttr(n, "strides", {2, 1, 1});
  auto* a = n->add_attribute();
  a->set_name("auto_pad");
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s("SAME_UPPER");
  // out 2; total pad = (2-1)*2+3-4 = 1, begin 0 end 1: windows [0..2], [2..4)
  // ch0 x=1,2,3,4: 1+2+3=6, 3+4+0=7; ch1 x=5,6,7,8: 5-7=-2, 7-0=7
  auto y = RunAll(LoadOk(b), {{1, 2, 3, 4, 5, 6, 7, 8}})[0];
  CHECK(y == Floats{106, 107, 198, 207});
}

TEST_CASE("hostile ops - int8 Clip with min greater than max", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {3}, TP::INT8).Output("y");
  b.InitInts("lo", {}, {10}, TP::INT8);
  b.InitInts("hi", {}, {-10}, TP::INT8);
  b.Node("Clip", {"x", "lo", "hi"}, {"y"});
  // ONNX: min(max(x, lo), hi) -> all -10
  CHECK(RunAll(LoadOk(b), {{-100, 0, 100}})[0] == Floats{-10, -10, -10});
}

TEST_CASE("hostile ops - ReduceLogSumExp of large values overflows", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1, 3}).Output("y");
  IntsAttr(b.Node("ReduceLogSumExp", {"x"}, {"y"}), "axes", {1});
  auto m = LoadOk(b);
  CHECK(RunAll(m, {{1000, 1000, 1000}})[0][0] == Approx(1000 + std::log(3.0f)));
  CHECK(RunAll(m, {{-1000, -1000, -1000}})[0][0] == Approx(-1000 + std::log(3.0f)));
}

TEST_CASE("hostile ops - LayerNormalization accepts a Scale that is not the normalized shape", "[hostile-ops]") {
  Builder b(17);
  b.Input("x", {2, 4}).Output("y");
  b.Init("s", {2, 1}, {1, 2});
  b.Node("LayerNormalization", {"x", "s"}, {"y"});
  CHECK_FALSE(b.Load().has_value());
}

TEST_CASE("hostile ops - Cast of float16 and double inputs at the boundary", "[hostile-ops]") {
  const float inf = std::numeric_limits<float>::infinity();
  Builder b(13);
  b.Input("x", {3}, TP::FLOAT16).Output("y");
  IntAttr(b.Node("Cast", {"x"}, {"y"}), "to", TP::INT8);
  auto y = RunAll(LoadOk(b), {{1e6f, -inf, 100.4f}})[0];
  // 1e6 in float16 is inf -> 127; 100.4 -> 100.375 -> 100
  CHECK(y == Floats{127, -128, 100});
}


// A 3-D Conv of a 2 MiB weight (81^3) over a 96^3 volume: 4.7e11 multiply-adds for one Run
// (minutes on a gateway core) from a 2 MB model. Nothing bounds the work a model asks for.
TEST_CASE("hostile ops - 3-D Conv whose work per Run is unbounded", "[hostile-ops]") {
  const int64_t k = 81, side = 96;
  Builder b(13);
  b.Input("x", {1, 1, side, side, side}).Output("y");
  b.Init("w", {1, 1, k, k, k}, Floats(static_cast<size_t>(k * k * k), 1e-6f));
  IntsAttr(b.Node("Conv", {"x", "w"}, {"y"}), "pads", {40, 40, 40, 40, 40, 40});
  auto m = b.Load();
  REQUIRE_FALSE(m.has_value());  // bounded by LoadOptions::max_work
  CHECK_THAT(m.error().message, Catch::Contains("multiply-adds, above the limit of 68719476736 (LoadOptions::max_work)"));
}

// The same from a model of a few hundred bytes: the weight is a ConstantOfShape folded at load
// (161^3 elements, under the fold limit of 2^22), the volume 128^3: 8.7e12 multiply-adds.
TEST_CASE("hostile ops - tiny model with a folded 3-D Conv weight asks for hours of work", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1, 1, 128, 128, 128}).Output("y");
  b.InitInts("wshape", {5}, {1, 1, 161, 161, 161}, TP::INT64);
  auto* c = b.Node("ConstantOfShape", {"wshape"}, {"w"});
  auto* a = c->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  a->mutable_t()->set_data_type(TP::FLOAT);
  a->mutable_t()->add_dims(1);
  a->mutable_t()->add_float_data(1e-6f);
  IntsAttr(b.Node("Conv", {"x", "w"}, {"y"}), "pads", {80, 80, 80, 80, 80, 80});
  std::string bytes;
  b.proto().SerializeToString(&bytes);
  CHECK(bytes.size() < 400);
  auto m = b.Load();
  CHECK_FALSE(m.has_value());  // one Run would take about an hour: refused by LoadOptions::max_work
}

TEST_CASE("hostile ops - int8 QDQ edge and reflect Pad", "[hostile-ops]") {
  for (const char* mode : {"edge", "reflect"}) {
    Builder b(13);
    b.Input("x", {1, 3}).Init("s", {}, {0.5f}).InitI8("zp", {}, {3}).Output("y");
    b.InitInts("pads", {4}, {0, 2, 0, 1}, TP::INT64);
    b.Node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
    StrAttr(b.Node("Pad", {"xd", "pads"}, {"p"}), "mode", mode);
    b.Node("QuantizeLinear", {"p", "s", "zp"}, {"pq"});
    b.Node("DequantizeLinear", {"pq", "s", "zp"}, {"y"});
    INFO(mode);
    auto y = RunAll(LoadOk(b), {{1, 2, 3}})[0];
    if (std::string(mode) == "edge") CHECK(y == Floats{1, 1, 1, 2, 3, 3});
    else CHECK(y == Floats{3, 2, 1, 2, 3, 2});
  }
}

TEST_CASE("hostile ops - BatchNormalization with computed params numerics rank 2 and 5", "[hostile-ops]") {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{2, 2}, std::vector<int64_t>{1, 2, 1, 1, 2}}) {
    Builder b(15);
    b.Input("x", shape).Input("s", {2}).Output("y");
    b.Init("bias", {2}, {1, 2});
    b.Init("mean", {2}, {1, 1});
    b.Init("var", {2}, {4, 0});
    auto* n = b.Node("BatchNormalization", {"x", "s", "bias", "mean", "var"}, {"y"});
    FloatAttr(n, "epsilon", 0.0f);
    auto m = LoadOrNull(b);
    if (!m) continue;
    auto y = RunAll(m, {{3, 5, 3, 5}, {2, 1}})[0];
    INFO("rank " << shape.size());
    if (shape.size() == 2) {
      // [n][c]: x[0]=(3-1)/2*2+1=3, x[1]=(5-1)/0 -> inf
      CHECK(y[0] == 3);
      CHECK(std::isinf(y[1]));
      CHECK(y[2] == 3);
    } else {
      CHECK(y[0] == 3);
      CHECK(y[1] == 5);
      CHECK(std::isinf(y[2]));
    }
  }
}


TEST_CASE("hostile ops - LogSoftmax and Hardmax on a middle axis with extreme values", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {1, 2, 2}).Output("y");
    IntAttr(b.Node("LogSoftmax", {"x"}, {"y"}), "axis", 1);
    // columns (1000, 0) and (0, 0)
    auto y = RunAll(LoadOk(b), {{1000, 0, 0, 0}})[0];
    CHECK(y[0] == Approx(0).margin(1e-6));
    CHECK(y[2] == Approx(-1000));
    CHECK(y[1] == Approx(-std::log(2.0f)));
    CHECK(y[3] == Approx(-std::log(2.0f)));
  }
  {
    Builder b(11);  // coerced to 2-D: [1, 4]
    b.Input("x", {1, 2, 2}).Output("y");
    IntAttr(b.Node("Hardmax", {"x"}, {"y"}), "axis", 1);
    CHECK(RunAll(LoadOk(b), {{1, 5, 5, 2}})[0] == Floats{0, 1, 0, 0});
  }
  {
    Builder b(13);
    b.Input("x", {2, 3}).Output("y");
    IntAttr(b.Node("Hardmax", {"x"}, {"y"}), "axis", 0);
    CHECK(RunAll(LoadOk(b), {{1, 5, 3, 2, 5, 3}})[0] == Floats{0, 1, 1, 1, 0, 0});
  }
  {  // -inf everywhere and +inf
    const float inf = std::numeric_limits<float>::infinity();
    Builder b(13);
    b.Input("x", {1, 2}).Output("y");
    b.Node("LogSoftmax", {"x"}, {"y"});
    auto y = RunAll(LoadOk(b), {{inf, 0}})[0];
    WARN("LogSoftmax(inf, 0) = " << y[0] << " " << y[1]);
  }
}

TEST_CASE("hostile ops - Reduce family on non-adjacent axes against a reference", "[hostile-ops]") {
  // x[2][3][2] = 1..12; reduce axes {0, 2}, keepdims 0 -> 3 values
  Floats x(12);
  for (int i = 0; i < 12; ++i) x[i] = static_cast<float>(i + 1) * (i % 3 == 0 ? -1.0f : 1.0f);
  auto at = [&](int a, int b2, int c) { return x[static_cast<size_t>(a * 6 + b2 * 2 + c)]; };
  const std::vector<std::string> ops = {"ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd",
                                        "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"};
  for (const auto& op : ops) {
    Builder b(13);
    b.Input("x", {2, 3, 2}).Output("y");
    auto* n = b.Node(op, {"x"}, {"y"});
    if (op == "ReduceSum") {
      b.proto().mutable_opset_import(0)->set_version(11);
    }
    IntsAttr(n, "axes", {2, 0});
    IntAttr(n, "keepdims", 0);
    auto y = RunAll(LoadOk(b), {x})[0];
    REQUIRE(y.size() == 3);
    for (int j = 0; j < 3; ++j) {
      double sum = 0, mx = -1e30, mn = 1e30, prod = 1, l1 = 0, sq = 0, lse = 0;
      for (int a = 0; a < 2; ++a)
        for (int c = 0; c < 2; ++c) {
          const double v = at(a, j, c);
          sum += v; mx = std::max(mx, v); mn = std::min(mn, v); prod *= v; l1 += std::fabs(v); sq += v * v;
          lse += std::exp(v);
        }
      double want = op == "ReduceSum" ? sum : op == "ReduceMean" ? sum / 4 : op == "ReduceMax" ? mx
                  : op == "ReduceMin" ? mn : op == "ReduceProd" ? prod : op == "ReduceL1" ? l1
                  : op == "ReduceL2" ? std::sqrt(sq) : op == "ReduceSumSquare" ? sq : std::log(lse);
      INFO(op << " j=" << j);
      CHECK(y[static_cast<size_t>(j)] == Approx(want).epsilon(1e-5));
    }
  }
}

TEST_CASE("hostile ops - variadic Mean and Min broadcast three shapes", "[hostile-ops]") {
  Builder b(13);
  b.Input("a", {2, 1}).Input("b", {3}).Input("c", {1, 1}).Output("y").Output("z");
  b.Node("Mean", {"a", "b", "c"}, {"y"});
  b.Node("Min", {"a", "b", "c"}, {"z"});
  auto outs = RunAll(LoadOk(b), {{0, 3}, {3, 6, 9}, {-3}});
  CHECK(outs[0] == Floats{0, 1, 2, 1, 2, 3});
  CHECK(outs[1] == Floats{-3, -3, -3, -3, -3, -3});
}


// A NaN in a constant folded through QuantizeLinear at load: std::clamp passes NaN through and
// static_cast<int64_t>(NaN) is undefined (x86: INT64_MIN). The run-time kernel saturates NaN low.
TEST_CASE("hostile ops - QuantizeLinear of a NaN constant folded at load", "[hostile-ops]") {
  for (bool as_input : {false, true}) {
    Builder b(13);
    b.Input("x", {2});
    if (as_input) b.Input("c", {2});
    b.Output("y");
    if (!as_input) b.Init("c", {2}, {std::numeric_limits<float>::quiet_NaN(), 1.0f});
    b.Init("s", {}, {1.0f});
    b.InitI8("zp", {}, {0});
    b.Node("QuantizeLinear", {"c", "s", "zp"}, {"q"});
    b.Node("DequantizeLinear", {"q", "s", "zp"}, {"d"});
    b.Node("Add", {"x", "d"}, {"y"});
    auto m = LoadOrNull(b);
    if (!m) continue;
    std::vector<Floats> in = {{0, 0}};
    if (as_input) in.push_back({std::numeric_limits<float>::quiet_NaN(), 1.0f});
    auto y = RunAll(m, in)[0];
    INFO((as_input ? "computed" : "constant") << " NaN quantizes to " << y[0]);
    CHECK(y[0] == -128);  // the run-time kernel's answer
    CHECK(y[1] == 1);
  }
}


TEST_CASE("hostile ops - 3-D pools with bad windows and SAME padding", "[hostile-ops]") {
  struct C { std::string op; std::vector<int64_t> k, strides, pads; std::string auto_pad; bool ok; };
  const std::vector<C> cases = {
      {"MaxPool", {3, 1, 1}, {1, 1, 1}, {}, "", false},            // kernel deeper than the input
      {"MaxPool", {1, 1, 1}, {0, 1, 1}, {}, "", false},            // stride 0
      {"AveragePool", {1, 1, 1}, {1, 1, 1}, {-1, 0, 0, 0, 0, 0}, "", false},
      {"MaxPool", {2, 2, 2}, {2, 2, 2}, {}, "SAME_UPPER", true},
  };
  for (const auto& c : cases) {
    Builder b(13);
    b.Input("x", {1, 1, 2, 3, 3}).Output("y");
    auto* n = b.Node(c.op, {"x"}, {"y"});
    IntsAttr(n, "kernel_shape", c.k);
    IntsAttr(n, "strides", c.strides);
    if (!c.pads.empty()) IntsAttr(n, "pads", c.pads);
    if (!c.auto_pad.empty()) {
      auto* a = n->add_attribute();
      a->set_name("auto_pad");
      a->set_type(onnx::AttributeProto::STRING);
      a->set_s(c.auto_pad);
    }
    auto m = LoadOrNull(b);
    INFO(c.op);
    CHECK(static_cast<bool>(m) == c.ok);
    if (m) {
      Floats x(18);
      for (int i = 0; i < 18; ++i) x[i] = static_cast<float>(i);
      // SAME_UPPER, out {1,2,2}: windows d[0,1], h{[0,1],[2]}, w{[0,1],[2]} -> max indices
      CHECK(RunAll(m, {x})[0] == Floats{13, 14, 16, 17});
    }
  }
}

TEST_CASE("hostile ops - int8 3-D MaxPool with pads over negative values", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1, 1, 2, 1, 2}).Init("s", {}, {1.0f}).InitI8("zp", {}, {0}).Output("y");
  b.Node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
  auto* n = b.Node("MaxPool", {"xd"}, {"p"});
  IntsAttr(n, "kernel_shape", {2, 1, 2});
  IntsAttr(n, "pads", {1, 0, 1, 1, 0, 1});
  b.Node("QuantizeLinear", {"p", "s", "zp"}, {"pq"});
  b.Node("DequantizeLinear", {"pq", "s", "zp"}, {"y"});
  // d0: -5 -6 ; d1: -7 -8 ; padded d -1..2, w -1..2 -> 3x3 windows
  auto y = RunAll(LoadOk(b), {{-5, -6, -7, -8}})[0];
  CHECK(y == Floats{-5, -5, -6, -5, -5, -6, -7, -7, -8});
}

TEST_CASE("hostile ops - QDQ 3-D Conv with a per-channel int8 weight", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1, 1, 2, 1, 1}).Init("s", {}, {0.5f}).InitI8("zp", {}, {0}).Output("y");
  b.InitI8("wq", {2, 1, 2, 1, 1}, {1, 2, -3, 4});
  b.Init("ws", {2}, {1.0f, 0.25f});
  b.InitI8("wz", {2}, {0, 0});
  b.Node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
  IntAttr(b.Node("DequantizeLinear", {"wq", "ws", "wz"}, {"w"}), "axis", 0);
  b.Node("Conv", {"xd", "w"}, {"y"});
  // x = (2, 4): ch0 = 1*2 + 2*4 = 10 ; ch1 = 0.25 * (-3*2 + 4*4) = 2.5
  CHECK(RunAll(LoadOk(b), {{2, 4}})[0] == Floats{10, 2.5f});
}

TEST_CASE("hostile ops - GlobalAveragePool of rank 3 and rank 6", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {1, 2, 3}).Output("y");
    b.Node("GlobalAveragePool", {"x"}, {"y"});
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{1, 2, 3, 4, 5, 6}})[0] == Floats{2, 5});
  }
  {
    Builder b(13);
    b.Input("x", {1, 1, 2, 1, 1, 2}).Output("y");
    b.Node("GlobalAveragePool", {"x"}, {"y"});
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{1, 2, 3, 6}})[0] == Floats{3});
  }
}


TEST_CASE("hostile ops - AveragePool windows wholly in padding 2-D and 3-D", "[hostile-ops]") {
  for (bool three_d : {false, true}) {
    Builder b(13);
    if (three_d) b.Input("x", {1, 1, 1, 1, 2}); else b.Input("x", {1, 1, 1, 2});
    b.Output("y");
    auto* n = b.Node("AveragePool", {"x"}, {"y"});
    IntsAttr(n, "kernel_shape", three_d ? std::vector<int64_t>{1, 1, 1} : std::vector<int64_t>{1, 1});
    IntsAttr(n, "pads", three_d ? std::vector<int64_t>{0, 0, 2, 0, 0, 0} : std::vector<int64_t>{0, 2, 0, 0});
    INFO((three_d ? "3-D" : "2-D"));
    auto m = b.Load();
    // ORT refuses: "Pad should be smaller than kernel"; an average of no elements has no value.
    CHECK_FALSE(m.has_value());
    if (m) WARN("output: " << ::Catch::Detail::stringify(RunAll(*m, {{4, 6}})[0]));
  }
}


TEST_CASE("hostile ops - variadic Sum of 1000 inputs keeps the arena bounded", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1 << 20}).Output("y");
  std::vector<std::string> ins(1000, "x");
  b.Node("Sum", ins, {"y"});
  std::string bytes;
  b.proto().SerializeToString(&bytes);
  LoadOptions opt;
  opt.max_arena_bytes = 64 << 20;  // x, y and a few temporaries of 4 MiB
  auto m = Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, opt);
  if (!m) FAIL(m.error().message);
  Floats x(1 << 20, 0.5f);
  CHECK(RunAll(*m, {x})[0][12345] == 500.0f);
}


TEST_CASE("hostile ops - the arena counts int64 and bool elements at their own width", "[hostile-ops]") {
  // x (float) -> Cast int64 -> Cast bool -> Cast int64 -> Cast float: the int64 tensors need 8 bytes each.
  const int64_t n = 1 << 16;
  Builder b(13);
  b.Input("x", {n}).Output("y");
  IntAttr(b.Node("Cast", {"x"}, {"a"}), "to", TP::INT64);
  IntAttr(b.Node("Cast", {"a"}, {"c"}), "to", TP::BOOL);
  IntAttr(b.Node("Cast", {"c"}, {"d"}), "to", TP::INT64);
  b.InitInts("one", {1}, {1}, TP::INT64);
  b.Node("Add", {"d", "one"}, {"e"});
  b.Node("Add", {"e", "a"}, {"f"});
  IntAttr(b.Node("Cast", {"f"}, {"y"}), "to", TP::FLOAT);
  auto m = LoadOk(b);
  WARN("arena bytes " << m->arena_bytes() << " for " << n << " elements");
  CHECK(m->arena_bytes() >= 2 * 8 * n);  // a and e (or f) alive together
  Floats x(static_cast<size_t>(n), 3.0f);
  x[0] = 0;
  auto y = RunAll(m, {x})[0];
  CHECK(y[0] == 1);
  CHECK(y[static_cast<size_t>(n - 1)] == 5);
}


TEST_CASE("hostile ops - mixed integer types at run time are refused", "[hostile-ops]") {
  {
    Builder b(14);
    b.Input("x", {2}, TP::INT8).Input("z", {2}, TP::UINT8).Output("y");
    b.Node("Add", {"x", "z"}, {"y"});
    CHECK_FALSE(b.Load().has_value());
  }
  {  // an int32 bound for an int8 Clip: ONNX requires one type; a silent narrowing would wrap 200 to -56
    Builder b(13);
    b.Input("x", {3}, TP::INT8).Input("hi", {}, TP::INT32).Output("y");
    b.Node("Clip", {"x", "", "hi"}, {"y"});
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{-100, 0, 100}, {200}})[0] == Floats{-100, 0, 100});
  }
  {  // DequantizeLinear with an int32 zero point for an int8 input
    Builder b(13);
    b.Input("q", {2}, TP::INT8).Input("s", {}).Input("z", {}, TP::INT32).Output("y");
    b.Node("DequantizeLinear", {"q", "s", "z"}, {"y"});
    auto m = LoadOrNull(b);
    if (m) CHECK(RunAll(m, {{0, 1}, {1.0f}, {300}})[0] == Floats{-300, -299});
  }
}

TEST_CASE("hostile ops - LayerNormalization before opset 17", "[hostile-ops]") {
  Builder b(13);
  b.Input("x", {1, 2}).Output("y");
  b.Init("s", {2}, {1, 1});
  b.Node("LayerNormalization", {"x", "s"}, {"y"});
  auto m = LoadOrNull(b);
  if (m) WARN("LayerNormalization accepted at opset 13 (ONNX defines it from 17)");
}


TEST_CASE("hostile ops - computed BatchNormalization of a rank-1 or rank-0 input", "[hostile-ops]") {
  for (std::vector<int64_t> shape : {std::vector<int64_t>{3}, std::vector<int64_t>{}}) {
    Builder b(15);
    b.Input("x", shape).Input("s", {1}).Output("y");
    b.Init("bias", {1}, {0});
    b.Init("mean", {1}, {0});
    b.Init("var", {1}, {1});
    b.Node("BatchNormalization", {"x", "s", "bias", "mean", "var"}, {"y"});
    INFO("rank " << shape.size());
    auto m = b.Load();
    CHECK_FALSE(m.has_value());  // as the constant-parameter path: "input rank must be >= 2"
  }
}

TEST_CASE("hostile ops - QDQ ReduceMean to rank 0 and Hardmax of int8", "[hostile-ops]") {
  {
    Builder b(13);
    b.Input("x", {2, 2}).Init("s", {}, {0.5f}).InitI8("zp", {}, {0}).Output("y");
    b.Node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
    IntAttr(b.Node("ReduceMean", {"xd"}, {"r"}), "keepdims", 0);
    b.Node("QuantizeLinear", {"r", "s", "zp"}, {"rq"});
    b.Node("DequantizeLinear", {"rq", "s", "zp"}, {"y"});
    auto m = LoadOk(b);
    CHECK(m->outputs()[0].elements == 1);
    CHECK(RunAll(m, {{1, 2, 3, 4}})[0] == Floats{2.5f});
  }
  {
    Builder b(13);
    b.Input("x", {1, 3}).Init("s", {}, {0.5f}).InitI8("zp", {}, {0}).Output("y");
    b.Node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
    b.Node("Hardmax", {"xd"}, {"y"});
    // 1.1 and 1.2 both quantize to 1.0: ties, the first wins
    CHECK(RunAll(LoadOk(b), {{1.1f, 1.2f, -3}})[0] == Floats{1, 0, 0});
  }
}

TEST_CASE("hostile ops - uint8 MaxPool ceil_mode window starting in the padding", "[hostile-ops]") {
  Builder b(12);
  b.Input("x", {1, 1, 1, 4}, TP::UINT8).Output("y");
  auto* n = b.Node("MaxPool", {"x"}, {"y"});
  IntsAttr(n, "kernel_shape", {1, 1});
  IntsAttr(n, "strides", {1, 2});
  IntsAttr(n, "pads", {0, 0, 0, 0});
  IntAttr(n, "ceil_mode", 1);
  auto y = RunAll(LoadOk(b), {{7, 8, 9, 10}})[0];
  CHECK(y == Floats{7, 9});
}

}  // namespace
}  // namespace edge::engine::testing
