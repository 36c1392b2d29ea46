// Integer, bool, float16 and double tensors: the float boundary of the API (inputs cast into
// their type, outputs back to float, TensorInfo::dtype), Cast, integer arithmetic, Clip,
// MaxPool, Quantize/DequantizeLinear with computed parameters, and the refusals that must name
// the op and the type. ONNX's node tests (tests/conformance) cover the same ops on its data.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "agent/engine/engine.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/onnx_builder.h"

namespace edge::engine::testing {
namespace {

using TP = onnx::TensorProto;
using Floats = std::vector<float>;


// One node reading a graph input of `elem_type` (and optional more inputs), one output.
Builder Unary(const std::string& op, int32_t elem_type, const std::vector<int64_t>& shape, int64_t opset = 13) {
  Builder b(opset);
  b.Input("x", shape, elem_type).Output("y");
  b.Node(op, {"x"}, {"y"});
  return b;
}

TEST_CASE("integer inputs are cast from the caller's floats and outputs back", "[engine][dtype]") {
  Builder b = Unary("Identity", TP::INT8, {6});
  auto model = LoadOk(b);
  CHECK(model->inputs()[0].dtype == DType::kI8);
  CHECK(model->outputs()[0].dtype == DType::kI8);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  // Truncated toward zero and saturated, NaN to 0: ONNX Cast of float to int8.
  CHECK(RunAll(model, {{-200.0f, 3.7f, -3.7f, nan, 300.0f, -128.0f}})[0] == Floats{-128, 3, -3, 0, 127, -128});
}

TEST_CASE("uint8 Add Sub Mul Div wrap modulo 256 and divide as integers", "[engine][dtype]") {
  const Floats x = {250, 3, 200, 7, 0, 255}, y = {10, 5, 2, 2, 3, 0};
  const std::vector<std::pair<std::string, Floats>> cases = {
      {"Add", {4, 8, 202, 9, 3, 255}},
      {"Sub", {240, 254, 198, 5, 253, 255}},
      {"Mul", {196, 15, 144, 14, 0, 0}},
      {"Div", {25, 0, 100, 3, 0, 0}},  // x / 0 is 0 (ONNX leaves it undefined)
  };
  for (const auto& [op, want] : cases) {
    Builder b(14);
    b.Input("x", {6}, TP::UINT8).Input("y", {6}, TP::UINT8).Output("z");
    b.Node(op, {"x", "y"}, {"z"});
    auto model = LoadOk(b);
    INFO(op);
    CHECK(model->outputs()[0].dtype == DType::kU8);
    CHECK(RunAll(model, {x, y})[0] == want);
  }
}

TEST_CASE("int64 arithmetic is exact inside and wraps at 2^64", "[engine][dtype]") {
  Builder b(13);
  b.Input("x", {3}, TP::INT64).Output("y").Output("z");
  b.InitInts("big", {1}, {int64_t{1} << 33}, TP::INT64);
  b.InitInts("one", {1}, {1}, TP::INT64);
  b.Node("Mul", {"x", "big"}, {"y"});  // 2^31 * 2^33 = 2^64 wraps to 0
  b.Node("Add", {"x", "one"}, {"sum"});
  b.Node("Sub", {"sum", "x"}, {"z"});  // (x + 1) - x is 1 even where a float would lose the 1
  auto outs = RunAll(LoadOk(b), {{2147483648.0f, -3.0f, 16777216.0f}});
  CHECK(outs[0] == Floats{0.0f, -3.0f * 8589934592.0f, 16777216.0f * 8589934592.0f});
  CHECK(outs[1] == Floats{1, 1, 1});
}

TEST_CASE("Cast follows ONNX between float, integer, bool and float16", "[engine][dtype]") {
  const float inf = std::numeric_limits<float>::infinity();
  struct Case {
    int32_t from, to;
    Floats x, want;
    DType out_type;
  };
  const std::vector<Case> cases = {
      {TP::FLOAT, TP::INT32, {2.9f, -2.9f, 3e9f, -3e9f}, {2, -2, 2147483647.0f, -2147483648.0f}, DType::kI32},
      {TP::INT32, TP::UINT8, {300, -1, 255, 0}, {44, 255, 255, 0}, DType::kU8},  // wraps
      {TP::FLOAT, TP::BOOL, {0.0f, -0.0f, 0.5f, -2.0f}, {0, 0, 1, 1}, DType::kBool},
      {TP::BOOL, TP::FLOAT, {0, 1, 1, 0}, {0, 1, 1, 0}, DType::kF32},
      {TP::INT64, TP::FLOAT, {-5, 7, 0, 1e6f}, {-5, 7, 0, 1e6f}, DType::kF32},
      // float16: round to nearest even (2049 -> 2048, 2051 -> 2052), overflow to inf
      {TP::FLOAT, TP::FLOAT16, {1.0f / 3.0f, 2049.0f, 2051.0f, 70000.0f}, {0.333251953125f, 2048, 2052, inf}, DType::kF16},
      {TP::INT32, TP::FLOAT16, {2049, -2051, 7, 65536}, {2048, -2052, 7, inf}, DType::kF16},
      {TP::FLOAT, TP::DOUBLE, {1.5f, -2.25f, 0, 1e30f}, {1.5f, -2.25f, 0, 1e30f}, DType::kF64},
  };
  for (const auto& c : cases) {
    Builder b = Unary("Cast", c.from, {4});
    IntAttr(b.proto().mutable_graph()->mutable_node(0), "to", c.to);
    auto model = LoadOk(b);
    INFO("Cast " << c.from << " -> " << c.to);
    CHECK(model->outputs()[0].dtype == c.out_type);
    CHECK(RunAll(model, {c.x})[0] == c.want);
  }
}

TEST_CASE("CastLike casts to the type of its second input without reading it", "[engine][dtype]") {
  Builder b(15);
  b.Input("x", {3}).Input("ids", {1}, TP::INT64).Input("wide", {1}, TP::DOUBLE).Output("y").Output("z");
  b.Node("CastLike", {"x", "ids"}, {"y"});
  b.Node("CastLike", {"y", "wide"}, {"z"});
  auto model = LoadOk(b);
  CHECK(model->outputs()[0].dtype == DType::kI64);
  CHECK(model->outputs()[1].dtype == DType::kF64);
  auto outs = RunAll(model, {{-1.5f, 2.5f, 7.0f}, {0}, {0}});
  CHECK(outs[0] == Floats{-1, 2, 7});
  CHECK(outs[1] == Floats{-1, 2, 7});
}

TEST_CASE("Cast of a constant folds with the same element rules", "[engine][dtype]") {
  Builder b(13);
  b.Input("x", {3}).Output("y");
  b.Init("c", {3}, {-2.7f, 300.0f, 1.0f / 3.0f});
  IntAttr(b.Node("Cast", {"c"}, {"c_i8"}), "to", TP::INT8);
  IntAttr(b.Node("Cast", {"c_i8"}, {"c_f"}), "to", TP::FLOAT);
  b.Node("Add", {"x", "c_f"}, {"y"});
  CHECK(RunAll(LoadOk(b), {{0, 0, 0}})[0] == Floats{-2, 127, 0});
}

TEST_CASE("int8 Clip takes constant or computed bounds of its own type", "[engine][dtype]") {
  Builder b(13);
  b.Input("x", {5}, TP::INT8).Input("lo", {}, TP::INT8).Output("y");
  b.InitInts("hi", {}, {20}, TP::INT8);
  b.Node("Clip", {"x", "lo", "hi"}, {"y"});
  auto model = LoadOk(b);
  CHECK(RunAll(model, {{-128, -5, 0, 21, 127}, {-5}})[0] == Floats{-5, -5, 0, 20, 20});
  // No bounds: the tensor itself.
  Builder none = Unary("Clip", TP::INT8, {3});
  CHECK(RunAll(LoadOk(none), {{-128, 5, 127}})[0] == Floats{-128, 5, 127});
}

TEST_CASE("MaxPool on uint8 compares unsigned", "[engine][dtype]") {
  Builder b = Unary("MaxPool", TP::UINT8, {1, 1, 1, 4}, 12);
  IntsAttr(b.proto().mutable_graph()->mutable_node(0), "kernel_shape", {1, 2});
  IntsAttr(b.proto().mutable_graph()->mutable_node(0), "strides", {1, 2});
  auto model = LoadOk(b);
  CHECK(model->outputs()[0].dtype == DType::kU8);
  CHECK(RunAll(model, {{200, 100, 3, 250}})[0] == Floats{200, 250});
}

TEST_CASE("QuantizeLinear and DequantizeLinear with computed scale and zero point", "[engine][dtype]") {
  SECTION("per tensor, uint8") {
    Builder b(13);
    b.Input("x", {5}).Input("s", {}).Input("z", {}, TP::UINT8).Output("q").Output("back");
    b.Node("QuantizeLinear", {"x", "s", "z"}, {"q"});
    b.Node("DequantizeLinear", {"q", "s", "z"}, {"back"});
    auto model = LoadOk(b);
    CHECK(model->outputs()[0].dtype == DType::kU8);
    // round half to even, then saturate to [0, 255]
    auto outs = RunAll(model, {{0.0f, 3.0f, 5.0f, 1000.0f, -1000.0f}, {2.0f}, {128}});
    CHECK(outs[0] == Floats{128, 130, 130, 255, 0});
    CHECK(outs[1] == Floats{0, 4, 4, 254, -256});
  }
  SECTION("per axis, int8") {
    Builder b(13);
    b.Input("x", {2, 2}).Input("s", {2}).Input("z", {2}, TP::INT8).Output("q");
    IntAttr(b.Node("QuantizeLinear", {"x", "s", "z"}, {"q"}), "axis", 0);
    CHECK(RunAll(LoadOk(b), {{1, 2, 1, 2}, {1, 0.5f}, {0, -10}})[0] == Floats{1, 2, -8, -6});
  }
  SECTION("dequantize a uint8 graph input with constant parameters") {
    Builder b(13);
    b.Input("x", {3}, TP::UINT8).Output("y");
    b.Init("s", {}, {0.5f});
    b.InitInts("z", {}, {10}, TP::UINT8);
    b.Node("DequantizeLinear", {"x", "s", "z"}, {"y"});
    auto model = LoadOk(b);
    CHECK(model->inputs()[0].dtype == DType::kU8);
    CHECK(RunAll(model, {{0, 10, 255}})[0] == Floats{-5, 0, 122.5f});
  }
}

TEST_CASE("Transpose Concat and Reshape move int64 tensors exactly", "[engine][dtype]") {
  Builder b(13);
  b.Input("x", {2, 2}, TP::INT64).Output("y");
  b.InitInts("tail", {1, 2}, {int64_t{1} << 40, -7}, TP::INT64);
  b.InitInts("shape", {1}, {6}, TP::INT64);
  b.Node("Transpose", {"x"}, {"t"});
  IntAttr(b.Node("Concat", {"t", "tail"}, {"c"}), "axis", 0);
  b.Node("Reshape", {"c", "shape"}, {"r"});
  b.Node("Sub", {"r", "r"}, {"zero"});  // exact in int64: a float would not hold 2^40 + 1
  b.Node("Add", {"r", "zero"}, {"y"});
  auto model = LoadOk(b);
  CHECK(model->outputs()[0].dtype == DType::kI64);
  CHECK(RunAll(model, {{1, 2, 3, 4}})[0] == Floats{1, 3, 2, 4, 1099511627776.0f, -7});
}

TEST_CASE("Pad edge and reflect on float and int32 tensors", "[engine][dtype]") {
  const std::vector<std::tuple<std::string, int32_t, Floats>> cases = {
      {"edge", TP::FLOAT, {1, 1, 1, 2, 3, 3, 3}},
      {"reflect", TP::FLOAT, {3, 2, 1, 2, 3, 2, 1}},
      {"edge", TP::INT32, {1, 1, 1, 2, 3, 3, 3}},
      {"reflect", TP::INT32, {3, 2, 1, 2, 3, 2, 1}},
      {"constant", TP::INT32, {7, 7, 1, 2, 3, 7, 7}},
  };
  for (const auto& [mode, type, want] : cases) {
    Builder b(13);
    b.Input("x", {3}, type).Output("y");
    b.InitInts("pads", {2}, {2, 2}, TP::INT64);
    if (type == TP::INT32) b.InitInts("value", {}, {7}, TP::INT32); else b.Init("value", {}, {7.0f});
    StrAttr(b.Node("Pad", {"x", "pads", "value"}, {"y"}), "mode", mode);
    INFO(mode << " " << type);
    CHECK(RunAll(LoadOk(b), {{1, 2, 3}})[0] == want);
  }
  // A reflection wider than the dimension would reflect twice: refused.
  Builder wide(13);
  wide.Input("x", {3}).Output("y");
  wide.InitInts("pads", {2}, {3, 0}, TP::INT64);
  StrAttr(wide.Node("Pad", {"x", "pads"}, {"y"}), "mode", "reflect");
  CHECK_THAT(LoadError(wide), Catch::Contains("(Pad)") && Catch::Contains("reflect pads must be smaller"));
}

TEST_CASE("float16 and double graph inputs are float32 inside and only Cast reads them", "[engine][dtype]") {
  Builder cast = Unary("Cast", TP::DOUBLE, {2});
  IntAttr(cast.proto().mutable_graph()->mutable_node(0), "to", TP::FLOAT);
  auto model = LoadOk(cast);
  CHECK(model->inputs()[0].dtype == DType::kF64);
  CHECK(model->outputs()[0].dtype == DType::kF32);
  CHECK(RunAll(model, {{1.25f, -3.0f}})[0] == Floats{1.25f, -3.0f});

  Builder add(13);
  add.Input("x", {2}, TP::DOUBLE).Input("y", {2}, TP::DOUBLE).Output("z");
  add.Node("Add", {"x", "y"}, {"z"});
  const std::string error = LoadError(add);
  CHECK_THAT(error, Catch::Contains("(Add)") && Catch::Contains("'x' is double") &&
                        Catch::Contains("only be read by Cast"));
}

TEST_CASE("integer tensors are refused by name where the engine has no integer form", "[engine][dtype]") {
  CHECK_THAT(LoadError(Unary("Relu", TP::INT32, {3})),
             Catch::Contains("(Relu)") && Catch::Contains("'x' is int32") && Catch::Contains("float tensors only"));
  Builder bool_add(13);
  bool_add.Input("x", {2}, TP::BOOL).Input("y", {2}, TP::BOOL).Output("z");
  bool_add.Node("Add", {"x", "y"}, {"z"});
  CHECK_THAT(LoadError(bool_add), Catch::Contains("Add of bool tensors"));
  Builder mixed(13);
  mixed.Input("x", {2}, TP::INT32).Input("y", {2}, TP::INT64).Output("z");
  mixed.Node("Add", {"x", "y"}, {"z"});
  CHECK_THAT(LoadError(mixed), Catch::Contains("'y' must be int32"));
  Builder bf16 = Unary("Cast", TP::FLOAT, {2});
  IntAttr(bf16.proto().mutable_graph()->mutable_node(0), "to", TP::BFLOAT16);
  CHECK_THAT(LoadError(bf16), Catch::Contains("(Cast)") && Catch::Contains("bfloat16"));
  CHECK_THAT(LoadError(Unary("Identity", TP::STRING, {2})), Catch::Contains("'x' has unsupported element type string"));
}

TEST_CASE("Dropout with training_mode as a graph input is refused as random", "[engine][dtype]") {
  Builder b(13);
  b.Input("x", {4}).Input("r", {}).Input("t", {}, TP::BOOL).Output("y");
  b.Node("Dropout", {"x", "r", "t"}, {"y"});
  CHECK_THAT(LoadError(b), Catch::Contains("(Dropout)") && Catch::Contains("training_mode is a graph input") &&
                               Catch::Contains("random"));
}

}  // namespace
}  // namespace edge::engine::testing
