// Operators at the opsets older exporters write (each operator from its own oldest version,
// agent/engine/lower.cpp's table), the conversions to today's meaning, and the refusals that
// must name the exact problem. ONNX's own node tests (tests/conformance) cover the rest.
#include <catch2/catch.hpp>

#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/lower.h"
#include "agent/engine/onnx_reader.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

std::vector<float> Iota(size_t n, float start = -3.0f, float step = 0.5f) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + step * static_cast<float>(i);
  return v;
}

TEST_CASE("Softmax before opset 13 normalizes over every dimension from axis on", "[engine][opset]") {
  for (int64_t opset : {1, 11}) {
    Builder b(opset);
    b.Input("x", {2, 3, 4}).Output("y");
    IntAttr(b.Node("Softmax", {"x"}, {"y"}), "axis", 1);
    const std::vector<float> x = Iota(24, -2.0f, 0.25f);
    const std::vector<float> y = RunOne(LoadOk(b), x);
    for (int batch = 0; batch < 2; ++batch) {
      double sum = 0;
      for (int k = 0; k < 12; ++k) sum += std::exp(double(x[batch * 12 + k]));
      for (int k = 0; k < 12; ++k) {
        INFO("opset " << opset << " batch " << batch << " element " << k);
        CHECK(y[batch * 12 + k] == Approx(std::exp(double(x[batch * 12 + k])) / sum).epsilon(1e-5));
      }
    }
  }
  // From opset 13 the same node normalizes along axis 1 alone: columns of 3 sum to one.
  Builder b(13);
  b.Input("x", {2, 3, 4}).Output("y");
  IntAttr(b.Node("Softmax", {"x"}, {"y"}), "axis", 1);
  const std::vector<float> y = RunOne(LoadOk(b), Iota(24));
  CHECK(y[0] + y[4] + y[8] == Approx(1.0f));
}

TEST_CASE("Add before opset 7 broadcasts B at its axis, and only when asked", "[engine][opset]") {
  Builder b(6);
  b.Input("a", {2, 3, 4}).Init("b", {3}, {10, 20, 30}).Output("y");
  auto* add = b.Node("Add", {"a", "b"}, {"y"});
  IntAttr(add, "broadcast", 1);
  IntAttr(add, "axis", 1);
  const std::vector<float> a = Iota(24);
  const std::vector<float> y = RunOne(LoadOk(b), a);
  for (int i = 0; i < 24; ++i) CHECK(y[i] == a[i] + 10.0f * float((i / 4) % 3 + 1));

  Builder off(6);  // broadcast=0 (the default): shapes must be equal
  off.Input("a", {2, 3, 4}).Init("b", {3}, {1, 2, 3}).Output("y");
  off.Node("Mul", {"a", "b"}, {"y"});
  auto refused = off.Load();
  REQUIRE_FALSE(refused.has_value());
  CHECK_THAT(refused.error().message, Catch::Contains("operand shapes differ and broadcast is 0"));

  Builder bad(6);  // B does not line up with A at the given axis
  bad.Input("a", {2, 3, 4}).Init("b", {4}, {1, 2, 3, 4}).Output("y");
  auto* sub = bad.Node("Sub", {"a", "b"}, {"y"});
  IntAttr(sub, "broadcast", 1);
  IntAttr(sub, "axis", 1);
  auto no = bad.Load();
  REQUIRE_FALSE(no.has_value());
  CHECK_THAT(no.error().message, Catch::Contains("B's shape does not fit A's at axis 1"));
}

TEST_CASE("Clip-6 and Pad-2 take their operands as attributes", "[engine][opset]") {
  Builder clip(6);
  clip.Input("x", {1, 8}).Output("y");
  auto* c = clip.Node("Clip", {"x"}, {"y"});
  FloatAttr(c, "min", -1.0f);
  FloatAttr(c, "max", 0.5f);
  const std::vector<float> x = Iota(8);
  const std::vector<float> y = RunOne(LoadOk(clip), x);
  for (int i = 0; i < 8; ++i) CHECK(y[i] == std::min(std::max(x[i], -1.0f), 0.5f));

  Builder pad(2);
  pad.Input("x", {1, 2}).Output("y");
  auto* p = pad.Node("Pad", {"x"}, {"y"});
  IntsAttr(p, "pads", {0, 1, 0, 2});
  FloatAttr(p, "value", 7.0f);
  const std::vector<float> padded = RunOne(LoadOk(pad), {1.0f, 2.0f});
  CHECK(padded == std::vector<float>{7, 1, 2, 7, 7});
}

TEST_CASE("a model of constants needs no inputs, and a Dropout mask is all true", "[engine][opset]") {
  Builder b(13);
  b.Init("c", {2, 2}, {1, 2, 3, 4}).Output("y");
  b.Node("Identity", {"c"}, {"y"});
  auto model = LoadOk(b);
  CHECK(model->inputs().empty());
  CHECK(RunOne(model, {}) == std::vector<float>{1, 2, 3, 4});

  Builder d(13);
  d.Input("x", {1, 3}).Output("y").Output("mask");
  d.Node("Dropout", {"x"}, {"y", "mask"});
  auto dm = LoadOk(d);
  ExecutionContext ctx(dm);
  std::vector<float> x = {1, 2, 3}, y(3), mask(3);
  const float* in[] = {x.data()};
  float* out[] = {y.data(), mask.data()};
  REQUIRE(ctx.Run(in, out).has_value());
  CHECK(y == x);
  CHECK(mask == std::vector<float>{1, 1, 1});
}

TEST_CASE("refusals name the operator, the opset or the dimension", "[engine][opset]") {
  auto refused = [](const Builder& b) {
    auto r = b.Load();
    REQUIRE_FALSE(r.has_value());
    return r.error().message;
  };
  {
    Builder b(13);
    b.Input("x", {1, 2, 3}).Output("h");
    b.Node("NonZero", {"x"}, {"h"});
    CHECK_THAT(refused(b), Catch::Contains("unsupported operator NonZero"));
  }
  {
    Builder b(13);
    b.Input("x", {1, 0}).Output("y");
    b.Node("Relu", {"x"}, {"y"});
    CHECK_THAT(refused(b), Catch::Contains("input 'x' dimension 1 is 0: tensors without elements are not supported"));
  }
  {
    Builder b(13);
    b.Input("x", {1, 4}).Output("y");
    b.proto().mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->clear_dim_value();
    b.Node("Relu", {"x"}, {"y"});
    CHECK_THAT(refused(b), Catch::Contains("input 'x' dimension 1 is symbolic (an unnamed dimension)"));
  }
  {
    Builder b(7);  // HardSwish exists from opset 14
    b.Input("x", {1, 4}).Output("y");
    b.Node("HardSwish", {"x"}, {"y"});
    CHECK_THAT(refused(b), Catch::Contains("HardSwish at opset 7 is not supported (the engine handles it from opset 14)"));
  }
  {
    Builder b(10);  // DequantizeLinear-10 is per tensor: no axis attribute before opset 13
    b.Input("x", {2, 2}).Init("s", {}, {0.5f}).InitI8("q", {2, 2}, {1, 2, 3, 4}).Output("y");
    IntAttr(b.Node("DequantizeLinear", {"q", "s"}, {"w"}), "axis", 0);
    b.Node("MatMul", {"x", "w"}, {"y"});
    CHECK_THAT(refused(b), Catch::Contains("(DequantizeLinear): unsupported attribute 'axis'"));
  }
  {
    Builder b(11);  // Clip with a tensor bound that is not a scalar
    b.Input("x", {1, 4}).Input("lo", {1, 2}).Output("y");
    b.Node("Clip", {"x", "lo"}, {"y"});
    CHECK_THAT(refused(b), Catch::Contains("min must be a scalar"));
  }
}

TEST_CASE("tensors the lowering adds never take a name the model uses", "[engine][opset]") {
  // Two legacy-broadcast Adds with the same node name, each with its own constant.
  Builder b(6);
  b.Input("a", {1, 3}).Init("b1", {3}, {10, 20, 30}).Init("b2", {3}, {1000, 2000, 3000}).Output("y");
  for (auto [in, bias, out] : {std::tuple{"a", "b1", "t"}, std::tuple{"t", "b2", "y"}}) {
    auto* add = b.Node("Add", {in, bias}, {out});
    add->set_name("same");
    IntAttr(add, "broadcast", 1);
  }
  CHECK(RunOne(LoadOk(b), {0, 0, 0}) == std::vector<float>{1010, 2020, 3030});

  // A graph tensor named like the Gemm's intermediate product keeps its own value.
  Builder g(13);
  g.Input("a", {2, 2}).Input("bm", {2, 2}).Input("c", {2, 2}).Output("y").Output("G#ab#0");
  g.Node("Relu", {"c"}, {"G#ab#0"});
  g.Node("Gemm", {"a", "bm", "c"}, {"y"})->set_name("G");
  auto model = LoadOk(g);
  ExecutionContext ctx(model);
  std::vector<float> a = {1, 0, 0, 1}, bm = {1, 2, 3, 4}, c = {-1, 0, 1, 2}, y(4), relu(4);
  const float* in[] = {a.data(), bm.data(), c.data()};
  float* out[] = {y.data(), relu.data()};
  REQUIRE(ctx.Run(in, out).has_value());
  CHECK(y == std::vector<float>{0, 2, 4, 6});
  CHECK(relu == std::vector<float>{0, 0, 1, 2});
}

TEST_CASE("a QDQ Conv whose bias is computed runs in float", "[engine][opset]") {
  Builder b(13);
  b.Input("x", {1, 2, 1, 1}).Input("bias", {2}).Init("s", {}, {0.5f}).InitI8("z", {}, {0}).InitI8("w", {2, 2, 1, 1}, {1, 0, 0, 2});
  b.Output("y");
  b.Node("QuantizeLinear", {"x", "s", "z"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "s", "z"}, {"xd"});
  b.Node("DequantizeLinear", {"w", "s", "z"}, {"wd"});
  b.Node("Conv", {"xd", "wd", "bias"}, {"c"});
  b.Node("QuantizeLinear", {"c", "s", "z"}, {"cq"});
  b.Node("DequantizeLinear", {"cq", "s", "z"}, {"y"});
  auto model = LoadOk(b);
  ExecutionContext ctx(model);
  std::vector<float> x = {2, 3}, bias = {1, -1}, y(2);
  const float* in[] = {x.data(), bias.data()};
  float* out[] = {y.data()};
  REQUIRE(ctx.Run(in, out).has_value());
  CHECK(y == std::vector<float>{2, 2});  // 0.5*2 + 1 = 2; 1*3 - 1 = 2, both on the 0.5 grid
}

TEST_CASE("every operator in the table has a version the engine handles", "[engine][opset]") {
  const auto ops = SupportedOperators();
  REQUIRE(ops.size() >= 30);
  for (const auto& op : ops) {
    INFO(op.op);
    CHECK(op.since_opset >= 1);
    CHECK(op.since_opset <= kNewestOpset);  // CastLike exists from 15
    CHECK_FALSE(op.forms.empty());
  }
}

TEST_CASE("an attribute of the wrong kind is refused, naming the node, not read as its default", "[engine][opset]") {
  // Each of these read as absent before, i.e. as the default: group 1, pads 0, no transpose...
  struct Case {
    const char* op;
    std::vector<int64_t> x_shape;
    std::function<void(Builder&, onnx::NodeProto*)> edit;
    const char* message;
  };
  const std::vector<Case> cases = {
      {"Conv", {1, 2, 4, 4}, [](Builder& b, auto* n) {
         b.Init("w", {2, 1, 1, 1}, {1, 1});
         n->add_input("w");
         FloatAttr(n, "group", 2.0f);
       }, "(Conv): attribute 'group' is a float; ONNX defines it as an integer"},
      {"Conv", {1, 1, 4, 4}, [](Builder& b, auto* n) {
         b.Init("w", {1, 1, 3, 3}, std::vector<float>(9, 1.0f));
         n->add_input("w");
         IntAttr(n, "pads", 1);
       }, "(Conv): attribute 'pads' is an integer; ONNX defines it as a list of integers"},
      {"Gemm", {2, 3}, [](Builder& b, auto* n) {
         b.Init("w", {2, 3}, std::vector<float>(6, 1.0f));
         n->add_input("w");
         FloatAttr(n, "transB", 1.0f);
       }, "(Gemm): attribute 'transB' is a float; ONNX defines it as an integer"},
      {"Transpose", {2, 3}, [](Builder&, auto* n) { IntAttr(n, "perm", 1); },
       "(Transpose): attribute 'perm' is an integer; ONNX defines it as a list of integers"},
      {"LeakyRelu", {2, 3}, [](Builder&, auto* n) { IntAttr(n, "alpha", 1); },
       "(LeakyRelu): attribute 'alpha' is an integer; ONNX defines it as a float"},
      {"ReduceMean", {2, 3}, [](Builder&, auto* n) { StrAttr(n, "keepdims", "0"); },
       "(ReduceMean): attribute 'keepdims' is a string; ONNX defines it as an integer"},
      {"MaxPool", {1, 1, 4, 4}, [](Builder&, auto* n) { FloatsAttr(n, "kernel_shape", {2, 2}); },
       "(MaxPool): attribute 'kernel_shape' is a list of floats; ONNX defines it as a list of integers"},
      {"Softmax", {2, 3}, [](Builder&, auto* n) { IntsAttr(n, "axis", {0}); },
       "(Softmax): attribute 'axis' is a list of integers; ONNX defines it as an integer"},
      {"Concat", {2, 3}, [](Builder&, auto* n) {
         n->add_input("x");
         FloatAttr(n, "axis", 0.0f);
       }, "(Concat): attribute 'axis' is a float; ONNX defines it as an integer"},
  };
  for (const auto& c : cases) {
    INFO(c.op << " " << c.message);
    Builder b(13);
    b.Input("x", c.x_shape).Output("y");
    auto* n = b.Node(c.op, {"x"}, {"y"});
    c.edit(b, n);
    CHECK_THAT(LoadError(b), Catch::Contains(c.message));
  }
}

}  // namespace
}  // namespace edge::engine::testing
