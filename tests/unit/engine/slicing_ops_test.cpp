// Slice of computed tensors, Split, GlobalMaxPool, PRelu and Resize: each against values computed here,
// on float, int8 (between QuantizeLinear and DequantizeLinear) and integer tensors, and the
// refusals. ONNX's own node tests (tests/conformance) check the float forms once more.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/op_forms.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

using Catch::Matchers::Contains;

constexpr int64_t kEnd = std::numeric_limits<int64_t>::max(), kBegin = std::numeric_limits<int64_t>::min();

// x's elements at first + i * step per axis, for every index i of `out_shape`.
std::vector<float> Box(const std::vector<float>& x, const std::vector<int64_t>& shape, const std::vector<int64_t>& first,
                       const std::vector<int64_t>& step, const std::vector<int64_t>& out_shape) {
  const size_t rank = shape.size();
  std::vector<float> y;
  std::vector<int64_t> idx(rank, 0);
  for (int64_t k = 0; k < Elements(out_shape); ++k) {
    int64_t src = 0;
    for (size_t d = 0; d < rank; ++d) src = src * shape[d] + first[d] + idx[d] * step[d];
    y.push_back(x[static_cast<size_t>(src)]);
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

}  // namespace

TEST_CASE("Slice of a computed tensor takes its box on float, int8 and integer tensors", "[engine][operators]") {
  const std::vector<int64_t> shape = {2, 5, 6, 7};
  const auto x = WholeRamp(Elements(shape));
  struct Case {
    const char* what;
    std::vector<int64_t> starts, ends, axes, steps;
    std::vector<int64_t> first, step, out;  // the box expected
  };
  const std::vector<Case> cases = {
      {"channels 1-3 (whole rows: one run per batch)", {1}, {4}, {1}, {}, {0, 1, 0, 0}, {1, 1, 1, 1}, {2, 3, 6, 7}},
      {"every other column from 1, to the end", {1}, {kEnd}, {-1}, {2}, {0, 0, 0, 1}, {1, 1, 1, 2}, {2, 5, 6, 3}},
      {"rows reversed", {-1}, {kBegin}, {2}, {-1}, {0, 0, 5, 0}, {1, 1, -1, 1}, {2, 5, 6, 7}},
      {"batch 0, columns 6 and 3 walking back", {0, 6}, {1, 0}, {0, 3}, {1, -3}, {0, 0, 0, 6}, {1, 1, 1, -3}, {1, 5, 6, 2}},
      {"one element", {1, 4, 5, 6}, {2, 5, 6, 7}, {}, {}, {1, 4, 5, 6}, {1, 1, 1, 1}, {1, 1, 1, 1}},
      {"columns 2-4 of rows 1-4 (runs inside rows)", {1, 2}, {5, 5}, {2, 3}, {}, {0, 0, 1, 2}, {1, 1, 1, 1}, {2, 5, 4, 3}},
      {"out-of-range bounds clamp to everything", {-100}, {100}, {0}, {}, {0, 0, 0, 0}, {1, 1, 1, 1}, {2, 5, 6, 7}},
  };
  for (const Case& c : cases) {
    for (Form form : {Form::kFloat, Form::kInt8, Form::kInt32}) {
      INFO(c.what << ", " << FormName(form));
      const auto n = static_cast<int64_t>(c.starts.size());
      Builder b = Around(form, "Slice", shape, {"starts", "ends", "axes", "steps"}, 1);
      b.InitInts("starts", {n}, c.starts, onnx::TensorProto::INT64).InitInts("ends", {n}, c.ends, onnx::TensorProto::INT64);
      std::vector<int64_t> axes = c.axes, steps = c.steps;
      if (axes.empty()) {
        for (int64_t k = 0; k < n; ++k) axes.push_back(k);
      }
      if (steps.empty()) steps.assign(static_cast<size_t>(n), 1);
      b.InitInts("axes", {n}, axes, onnx::TensorProto::INT64).InitInts("steps", {n}, steps, onnx::TensorProto::INT64);
      auto model = LoadOk(b);
      REQUIRE(model->outputs()[0].shape == c.out);
      CHECK(model->is_quantized() == (form == Form::kInt8));
      // A box of everything is the input itself; any other one is one step in the input's type.
      const std::string step = StepOf(*model, "Slice");
      INFO("step: " << step);
      if (c.out == shape && c.first == std::vector<int64_t>(4, 0) && c.step == std::vector<int64_t>(4, 1)) {
        CHECK(step.empty());
      } else {
        CHECK_THAT(step, Catch::EndsWith(std::string("(") + FormName(form) + ")"));
      }
      CHECK(RunOne(model, x) == Box(x, shape, c.first, c.step, c.out));
    }
  }
}

TEST_CASE("a whole-tensor Slice, Identity and Split keep every graph input and output name", "[engine][operators]") {
  // y0 = Relu(x); y1 = Identity(y0); y2 = Slice(y0, everything); y3 = Slice(x, everything)
  Builder b(13);
  b.Input("x", {2, 3}).Output("y0").Output("y1").Output("y2").Output("y3");
  b.InitInts("starts", {1}, {0}, onnx::TensorProto::INT64).InitInts("ends", {1}, {kEnd}, onnx::TensorProto::INT64);
  b.Node("Relu", {"x"}, {"y0"});
  b.Node("Identity", {"y0"}, {"y1"});
  b.Node("Slice", {"y0", "starts", "ends"}, {"y2"});
  b.Node("Slice", {"x", "starts", "ends"}, {"y3"});
  auto model = LoadOk(b);
  REQUIRE(model->inputs().size() == 1);
  CHECK(model->inputs()[0].name == "x");
  REQUIRE(model->outputs().size() == 4);
  for (size_t k = 0; k < 4; ++k) CHECK(model->outputs()[k].name == "y" + std::to_string(k));
  const std::vector<float> x = {-1, 2, -3, 4, 0, 6};
  const auto ys = RunAll(model, {x});
  const std::vector<float> relu = {0, 2, 0, 4, 0, 6};
  CHECK(ys[0] == relu);
  CHECK(ys[1] == relu);
  CHECK(ys[2] == relu);
  CHECK(ys[3] == x);
}

TEST_CASE("Slice before opset 10 takes its bounds as attributes", "[engine][operators]") {
  Builder b(9);
  b.Input("x", {3, 4}).Output("y");
  auto* n = b.Node("Slice", {"x"}, {"y"});
  IntsAttr(n, "starts", {1, -3});
  IntsAttr(n, "ends", {kEnd, 3});
  IntsAttr(n, "axes", {0, 1});
  const auto x = WholeRamp(12);
  CHECK(RunOne(LoadOk(b), x) == Box(x, {3, 4}, {1, 1}, {1, 1}, {2, 2}));
}

TEST_CASE("Split gives one part per output by sizes, equal parts or num_outputs", "[engine][operators]") {
  struct Case {
    const char* what;
    int64_t opset;
    std::vector<int64_t> shape;
    int64_t axis;
    std::vector<int64_t> sizes;  // given as `split`; empty: not given
    int64_t num_outputs;         // opset 18's attribute; 0: not given
    std::vector<int64_t> want;   // the sizes expected
  };
  const std::vector<Case> cases = {
      {"sizes as an input (opset 13), channels", 13, {2, 6, 4}, 1, {2, 3, 1}, 0, {2, 3, 1}},
      {"sizes as an attribute (opset 11), last axis", 11, {2, 3, 9}, -1, {4, 5}, 0, {4, 5}},
      {"equal parts of the batch", 13, {4, 3, 2}, 0, {}, 0, {2, 2}},
      {"num_outputs: the last part smaller", 18, {2, 3, 7}, 2, {}, 3, {3, 3, 1}},
  };
  for (const Case& c : cases) {
    for (Form form : {Form::kFloat, Form::kInt8, Form::kInt32}) {
      INFO(c.what << ", " << FormName(form));
      const bool sizes_input = !c.sizes.empty() && c.opset >= 13;
      const int parts = static_cast<int>(c.want.size());
      Builder b = Around(form, "Split", c.shape, sizes_input ? std::vector<std::string>{"split"} : std::vector<std::string>{},
                         parts, c.opset);
      auto* node = b.proto().mutable_graph()->mutable_node(form == Form::kFloat ? 0 : form == Form::kInt8 ? 2 : 1);
      REQUIRE(node->op_type() == "Split");
      IntAttr(node, "axis", c.axis);
      if (sizes_input) b.InitInts("split", {static_cast<int64_t>(c.sizes.size())}, c.sizes, onnx::TensorProto::INT64);
      if (!c.sizes.empty() && c.opset < 13) IntsAttr(node, "split", c.sizes);
      if (c.num_outputs > 0) IntAttr(node, "num_outputs", c.num_outputs);
      auto model = LoadOk(b);
      const auto x = WholeRamp(Elements(c.shape));
      const auto ys = RunAll(model, {x});
      REQUIRE(static_cast<int>(ys.size()) == parts);
      const int64_t axis = c.axis < 0 ? c.axis + static_cast<int64_t>(c.shape.size()) : c.axis;
      std::vector<int64_t> first(c.shape.size(), 0), step(c.shape.size(), 1);
      for (int k = 0; k < parts; ++k) {
        std::vector<int64_t> out = c.shape;
        out[static_cast<size_t>(axis)] = c.want[static_cast<size_t>(k)];
        INFO("output " << k);
        CHECK(model->outputs()[static_cast<size_t>(k)].shape == out);
        CHECK(ys[static_cast<size_t>(k)] == Box(x, c.shape, first, step, out));
        first[static_cast<size_t>(axis)] += c.want[static_cast<size_t>(k)];
      }
    }
  }
}

TEST_CASE("Split refuses sizes that do not cover the axis and parts that would be empty", "[engine][operators]") {
  struct Case {
    int64_t opset;
    std::vector<int64_t> sizes;
    int outputs;
    int64_t num_outputs;
    const char* error;
  };
  const std::vector<Case> cases = {
      {13, {2, 3}, 2, 0, "split sizes add up to 5, not the axis' length 6"},
      {13, {6, 0}, 2, 0, "an output would be empty"},
      {13, {1, 2, 3}, 2, 0, "split has 3 sizes for 2 outputs"},
      {13, {}, 4, 0, "the axis' length 6 does not split into 4 equal parts"},
      {18, {}, 3, 2, "num_outputs is 2 but the node has 3 outputs"},
      {18, {}, 7, 7, "an output would be empty"},
      {18, {}, 2, 0, "Split from opset 18 needs the split input or the num_outputs attribute"},
  };
  for (const Case& c : cases) {
    INFO(c.error);
    Builder b(c.opset);
    b.Input("x", {1, 6});
    std::vector<std::string> ins = {"x"}, outs;
    if (!c.sizes.empty()) {
      ins.push_back("split");
      b.InitInts("split", {static_cast<int64_t>(c.sizes.size())}, c.sizes, onnx::TensorProto::INT64);
    }
    for (int k = 0; k < c.outputs; ++k) {
      outs.push_back("y" + std::to_string(k));
      b.Output(outs.back());
    }
    auto* node = b.Node("Split", ins, outs);
    IntAttr(node, "axis", 1);
    if (c.num_outputs > 0) IntAttr(node, "num_outputs", c.num_outputs);
    auto r = b.Load();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Contains(c.error) && Contains("Split"));
  }
}

TEST_CASE("GlobalMaxPool takes each map's maximum on float, int8 and integer tensors", "[engine][operators]") {
  // maps longer than an ONNX window may be (4096) on one side: GlobalMaxPool has no window limit
  for (const std::vector<int64_t>& shape :
       {std::vector<int64_t>{2, 3, 5, 7}, {2, 3, 40}, {1, 2, 3, 4, 5}, {1, 64, 7, 7}, {1, 2, 16000}, {1, 2, 2, 5000}}) {
    const auto x = WholeRamp(Elements(shape));
    const int64_t planes = shape[0] * shape[1], plane = Elements(shape) / planes;
    std::vector<float> want;
    for (int64_t p = 0; p < planes; ++p) {
      want.push_back(*std::max_element(x.begin() + p * plane, x.begin() + (p + 1) * plane));
    }
    for (Form form : {Form::kFloat, Form::kInt8, Form::kInt32}) {
      INFO("rank " << shape.size() << ", " << FormName(form));
      auto model = LoadOk(Around(form, "GlobalMaxPool", shape, {}, 1));
      std::vector<int64_t> out = shape;
      for (size_t d = 2; d < out.size(); ++d) out[d] = 1;
      CHECK(model->outputs()[0].shape == out);
      CHECK(model->is_quantized() == (form == Form::kInt8));
      CHECK(RunOne(model, x) == want);
    }
  }
}

TEST_CASE("PRelu: one slope is an int8 lookup, per-channel slopes run in float", "[engine][operators]") {
  const std::vector<int64_t> shape = {1, 4, 3, 3};
  const auto x = WholeRamp(Elements(shape));
  SECTION("one slope, float and int8") {
    for (Form form : {Form::kFloat, Form::kInt8}) {
      INFO(FormName(form));
      Builder b = Around(form, "PRelu", shape, {"slope"}, 1);
      b.Init("slope", {1}, {0.25f});
      auto model = LoadOk(b);
      CHECK(model->is_quantized() == (form == Form::kInt8));
      const auto y = RunOne(model, x);
      for (size_t i = 0; i < x.size(); ++i) {
        const float want = x[i] < 0 ? x[i] * 0.25f : x[i];
        // int8 at scale 1: the lookup rounds half to even, as QuantizeLinear does
        CHECK(y[i] == (form == Form::kInt8 ? std::nearbyint(want) : want));
      }
    }
  }
  SECTION("a slope per channel, broadcast over each map (int8: a table per channel, one step)") {
    for (Form form : {Form::kFloat, Form::kInt8}) {
      INFO(FormName(form));
      Builder b = Around(form, "PRelu", shape, {"slope"}, 1);
      b.Init("slope", {4, 1, 1}, {0.5f, -1.0f, 0.0f, 2.0f});
      auto model = LoadOk(b);
      size_t prelu_steps = 0;
      for (const auto& s : model->StepSummary()) prelu_steps += s.find("PRelu") != std::string::npos ? 1 : 0;
      CHECK(prelu_steps == (form == Form::kInt8 ? 1u : 4u));
      if (form == Form::kInt8) CHECK_THAT(StepOf(*model, "PRelu"), Catch::EndsWith("(int8)"));
      const auto y = RunOne(model, x);
      const float slopes[] = {0.5f, -1.0f, 0.0f, 2.0f};
      for (size_t i = 0; i < x.size(); ++i) {
        const float s = slopes[i / 9];
        const float want = x[i] < 0 ? x[i] * s : x[i];
        CHECK(y[i] == (form == Form::kInt8 ? std::clamp(std::nearbyint(want), -128.0f, 127.0f) : want));
      }
    }
  }
  SECTION("int8, a slope per channel on a batch of 3 and 1-D maps of 5 or 1: each block its channel's table") {
    for (const std::vector<int64_t>& shape3 : {std::vector<int64_t>{3, 4, 5}, {3, 4}}) {
      const int64_t inner = shape3.size() == 3 ? 5 : 1;
      const auto x3 = WholeRamp(Elements(shape3));
      Builder b = Around(Form::kInt8, "PRelu", shape3, {"slope"}, 1);
      b.Init("slope", inner == 1 ? std::vector<int64_t>{4} : std::vector<int64_t>{4, 1}, {0.5f, -1.0f, 0.0f, 2.0f});
      auto model = LoadOk(b);
      CHECK_THAT(StepOf(*model, "PRelu"), Catch::EndsWith("(int8)"));
      const auto y = RunOne(model, x3);
      const float slopes[] = {0.5f, -1.0f, 0.0f, 2.0f};
      for (size_t i = 0; i < x3.size(); ++i) {
        const float s = slopes[(i / static_cast<size_t>(inner)) % 4];
        CHECK(y[i] == std::clamp(std::nearbyint(x3[i] < 0 ? x3[i] * s : x3[i]), -128.0f, 127.0f));
      }
    }
  }
  SECTION("opset 6: a slope of [C] is per channel, as PyTorch exported it") {
    Builder b(6);
    b.Input("x", shape).Init("slope", {4}, {0.5f, -1.0f, 0.0f, 2.0f}).Output("y");
    b.Node("PRelu", {"x", "slope"}, {"y"});
    const auto y = RunOne(LoadOk(b), x);
    const float slopes[] = {0.5f, -1.0f, 0.0f, 2.0f};
    for (size_t i = 0; i < x.size(); ++i) CHECK(y[i] == (x[i] < 0 ? x[i] * slopes[i / 9] : x[i]));
  }
  SECTION("a NaN slope for every element: x >= 0 passes, the rest is NaN (int8: saturated low)") {
    for (Form form : {Form::kFloat, Form::kInt8}) {
      INFO(FormName(form));
      Builder b = Around(form, "PRelu", shape, {"slope"}, 1);
      b.Init("slope", {4, 1, 1}, std::vector<float>(4, std::nanf("")));
      const auto y = RunOne(LoadOk(b), x);
      for (size_t i = 0; i < x.size(); ++i) {
        if (x[i] >= 0) {
          CHECK(y[i] == x[i]);
        } else if (form == Form::kFloat) {
          CHECK(std::isnan(y[i]));
        } else {
          CHECK(y[i] == -128.0f);
        }
      }
    }
  }
  SECTION("slopes that differ and include an infinite one are refused, not computed as NaN") {
    Builder b = Around(Form::kFloat, "PRelu", shape, {"slope"}, 1);
    b.Init("slope", {4, 1, 1}, {0.5f, std::numeric_limits<float>::infinity(), 0.0f, 2.0f});
    auto r = b.Load();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Contains("infinite or NaN"));
  }
  SECTION("a slope that does not broadcast to x is refused") {
    Builder b = Around(Form::kFloat, "PRelu", shape, {"slope"}, 1);
    b.Init("slope", {2}, {0.1f, 0.2f});
    auto r = b.Load();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Contains("the slope does not broadcast to the input's shape"));
  }
}

}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

// Resize's inputs after X (roi, scales, sizes), by name; "" leaves one out.
Builder ResizeAround(Form form, const std::vector<int64_t>& shape, const std::vector<float>& scales,
                     const std::vector<int64_t>& sizes = {}, int64_t opset = 13) {
  Builder b = Around(form, "Resize", shape, {"", scales.empty() ? "" : "scales", sizes.empty() ? "" : "sizes"}, 1, opset);
  if (!scales.empty()) b.Init("scales", {static_cast<int64_t>(scales.size())}, scales);
  if (!sizes.empty()) b.InitInts("sizes", {static_cast<int64_t>(sizes.size())}, sizes, onnx::TensorProto::INT64);
  return b;
}

onnx::NodeProto* NodeOf(Builder& b, const std::string& op) {
  for (auto& n : *b.proto().mutable_graph()->mutable_node()) {
    if (n.op_type() == op) return &n;
  }
  FAIL("no " << op << " node");
  return nullptr;
}

// x's element at index src[d](i_d) per axis, for every index of `out_shape`: the nearest Resize
// computed from whole factors, independently of the engine's coordinate arithmetic.
std::vector<float> Pick(const std::vector<float>& x, const std::vector<int64_t>& shape,
                        const std::vector<int64_t>& out_shape, const std::function<int64_t(size_t, int64_t)>& src) {
  std::vector<float> y;
  std::vector<int64_t> idx(shape.size(), 0);
  for (int64_t k = 0; k < Elements(out_shape); ++k) {
    int64_t at = 0;
    for (size_t d = 0; d < shape.size(); ++d) at = at * shape[d] + src(d, idx[d]);
    y.push_back(x[static_cast<size_t>(at)]);
    for (size_t d = shape.size(); d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

}  // namespace

TEST_CASE("nearest Resize by whole factors reads x[i / k] upsampling and x[i * k] downsampling", "[engine][operators]") {
  const std::vector<int64_t> shape = {2, 3, 4, 5};
  const auto x = WholeRamp(Elements(shape));
  // up 2x along axis 1, down 2x along axis 2, up 3x along axis 3
  const std::vector<float> scales = {1, 2, 0.5f, 3};
  const std::vector<int64_t> out = {2, 6, 2, 15};
  const std::vector<int64_t> up = {1, 2, 1, 3}, down = {1, 1, 2, 1};
  auto src = [&](size_t d, int64_t i) { return i / up[d] * down[d]; };
  for (Form form : {Form::kFloat, Form::kInt8, Form::kInt32}) {
    INFO(FormName(form));
    // asymmetric + floor: input index floor(i / scale)
    Builder b = ResizeAround(form, shape, scales);
    StrAttr(NodeOf(b, "Resize"), "coordinate_transformation_mode", "asymmetric");
    StrAttr(NodeOf(b, "Resize"), "nearest_mode", "floor");
    auto model = LoadOk(b);
    REQUIRE(model->outputs()[0].shape == out);
    CHECK_THAT(StepOf(*model, "Resize"), Catch::EndsWith(std::string("(") + FormName(form) + ", nearest)"));
    CHECK(RunOne(model, x) == Pick(x, shape, out, src));
    // the defaults (half_pixel, round_prefer_floor) upsampling by whole factors: the same indices
    Builder up_only = ResizeAround(form, shape, {}, {2, 6, 4, 15});
    const std::vector<int64_t> up_out = {2, 6, 4, 15};
    CHECK(RunOne(LoadOk(up_only), x) == Pick(x, shape, up_out, [&](size_t d, int64_t i) { return i / up[d]; }));
  }
}

// A 2x upsample of the innermost axis repeats each element: int8 rows of 16 bytes or more go 16
// at a time (a row's last 16 overlapping), shorter ones element by element.
TEST_CASE("nearest Resize doubles rows of every width", "[engine][operators]") {
  for (int64_t width : {1, 7, 15, 16, 17, 31, 32, 40, 57}) {
    const std::vector<int64_t> shape = {1, 2, 3, width}, out = {1, 2, 6, 2 * width};
    const auto x = WholeRamp(Elements(shape));
    for (Form form : {Form::kInt8, Form::kFloat}) {
      INFO(FormName(form) << " width " << width);
      Builder b = ResizeAround(form, shape, {1, 1, 2, 2});
      CHECK(RunOne(LoadOk(b), x) == Pick(x, shape, out, [](size_t d, int64_t i) { return d >= 2 ? i / 2 : i; }));
    }
  }
}

TEST_CASE("Upsample 7 and 9 and Resize 10 double a map as ONNX Runtime does", "[engine][operators]") {
  const std::vector<int64_t> shape = {1, 2, 3, 4}, out = {1, 2, 6, 8};
  const auto x = WholeRamp(Elements(shape));
  const auto want = Pick(x, shape, out, [](size_t d, int64_t i) { return d >= 2 ? i / 2 : i; });
  {
    Builder b(7);
    b.Input("x", shape).Output("y");
    FloatsAttr(b.Node("Upsample", {"x"}, {"y"}), "scales", {1, 1, 2, 2});
    CHECK(RunOne(LoadOk(b), x) == want);
  }
  for (const auto& [op, opset] : {std::pair{"Upsample", 9}, std::pair{"Resize", 10}}) {
    INFO(op);
    Builder b(opset);
    b.Input("x", shape).Init("scales", {4}, {1, 1, 2, 2}).Output("y");
    b.Node(op, {"x", "scales"}, {"y"});
    CHECK(RunOne(LoadOk(b), x) == want);
  }
}

TEST_CASE("linear Resize is exact on a linear ramp, float and between DequantizeLinear and QuantizeLinear",
          "[engine][operators]") {
  // x = 3 * col + 6 * row on 2 x 2; align_corners to 4 x 4 reads col/3, row/3: y = col + 2 * row.
  const std::vector<float> x = {0, 3, 6, 9};
  std::vector<float> want;
  for (int r = 0; r < 4; ++r) {
    for (int c = 0; c < 4; ++c) want.push_back(static_cast<float>(c + 2 * r));
  }
  for (Form form : {Form::kFloat, Form::kInt8}) {
    INFO(FormName(form));
    Builder b = ResizeAround(form, {1, 1, 2, 2}, {}, {1, 1, 4, 4});
    StrAttr(NodeOf(b, "Resize"), "mode", "linear");
    StrAttr(NodeOf(b, "Resize"), "coordinate_transformation_mode", "align_corners");
    auto model = LoadOk(b);
    CHECK_THAT(StepOf(*model, "Resize"), Catch::EndsWith("(float, linear)"));
    const auto y = RunOne(model, x);
    REQUIRE(y.size() == want.size());
    for (size_t i = 0; i < y.size(); ++i) CHECK(y[i] == Approx(want[i]).margin(1e-5));
  }
  // Three axes at once (eight corners per output): a linear function of the indices is
  // reproduced at align_corners' coordinates i * (in - 1) / (out - 1).
  {
    const std::vector<int64_t> in = {2, 3, 4}, out = {3, 5, 7};
    std::vector<float> ramp;
    for (int64_t i = 0; i < 2; ++i)
      for (int64_t j = 0; j < 3; ++j)
        for (int64_t k = 0; k < 4; ++k) ramp.push_back(static_cast<float>(i + 10 * j + 100 * k));
    Builder b = ResizeAround(Form::kFloat, in, {}, out);
    StrAttr(NodeOf(b, "Resize"), "mode", "linear");
    StrAttr(NodeOf(b, "Resize"), "coordinate_transformation_mode", "align_corners");
    const auto y = RunOne(LoadOk(b), ramp);
    REQUIRE(y.size() == 105);
    size_t at = 0;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 5; ++j)
        for (int k = 0; k < 7; ++k) {
          const double want = i * 1.0 / 2 + 10 * j * 2.0 / 4 + 100 * k * 3.0 / 6;
          CHECK(y[at++] == Approx(want).margin(1e-3));
        }
  }
  // half_pixel (the default) on a 1 x 4 row doubled: the ends clamp, the inside interpolates.
  Builder row = ResizeAround(Form::kFloat, {1, 4}, {1, 2});
  StrAttr(NodeOf(row, "Resize"), "mode", "linear");
  const std::vector<float> row_want = {0, 1, 3, 5, 7, 9, 11, 12};  // x = 0, 4, 8, 12
  CHECK(RunOne(LoadOk(row), {0, 4, 8, 12}) == row_want);
}

TEST_CASE("Resize from opset 18 takes sizes for the axes named, and outside tf_crop_and_resize's box it writes the value",
          "[engine][operators]") {
  const std::vector<int64_t> shape = {1, 2, 3, 4};
  const auto x = WholeRamp(Elements(shape));
  {
    Builder b = ResizeAround(Form::kFloat, shape, {}, {6, 8}, 18);
    IntsAttr(NodeOf(b, "Resize"), "axes", {-2, 3});
    auto model = LoadOk(b);
    const std::vector<int64_t> out = {1, 2, 6, 8};
    REQUIRE(model->outputs()[0].shape == out);
    CHECK(RunOne(model, x) == Pick(x, shape, out, [](size_t d, int64_t i) { return d >= 2 ? i / 2 : i; }));
  }
  // The last axis' box runs from -0.5 to 1.5 of its length: the first and last columns are
  // outside; the value is 10 in float, in int8 (code 10 at scale 1) and in int32.
  for (Form form : {Form::kFloat, Form::kInt8, Form::kInt32}) {
    INFO(FormName(form));
    Builder b = Around(form, "Resize", shape, {"roi", "", "sizes"}, 1);
    b.Init("roi", {8}, {0, 0, 0, -0.5f, 1, 1, 1, 1.5f}).InitInts("sizes", {4}, {1, 2, 3, 3}, onnx::TensorProto::INT64);
    auto* n = NodeOf(b, "Resize");
    StrAttr(n, "coordinate_transformation_mode", "tf_crop_and_resize");
    FloatAttr(n, "extrapolation_value", 10.0f);
    // box columns -1.5, 1.5 and 4.5 of 0..3: the outer two outside, the middle rounds down to 1
    const auto y = RunOne(LoadOk(b), x);
    REQUIRE(y.size() == 18);
    for (size_t r = 0; r < 6; ++r) {
      CHECK(y[r * 3] == 10.0f);
      CHECK(y[r * 3 + 1] == x[r * 4 + 1]);
      CHECK(y[r * 3 + 2] == 10.0f);
    }
  }
}

TEST_CASE("Resize sizes from scales in float as exporters write them, and extrapolation values kept exactly",
          "[engine][operators]") {
  // 10 x 0.7 is 6.99999988 in double but 7 in float, the size ONNX's shape inference writes
  CHECK(LoadOk(ResizeAround(Form::kFloat, {1, 10}, {1, 0.7f}))->outputs()[0].shape == std::vector<int64_t>{1, 7});
  // DequantizeLinear (scale 0.02, zero point 3) -> Resize writing 9.99 outside its box -> a
  // float output: 9.99 is no int8 code there, so the Resize runs in float; 0.06 is one (code 6).
  for (const float value : {9.99f, 0.06f}) {
    INFO("extrapolation " << value);
    Builder b(13);
    b.Input("x", {1, 4}).Init("s", {}, {0.02f}).InitI8("zp", {}, {3}).Output("y");
    b.Init("roi", {4}, {0, -0.5f, 1, 1.5f}).InitInts("sizes", {2}, {1, 3}, onnx::TensorProto::INT64);
    b.Node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
    auto* n = b.Node("Resize", {"xd", "roi", "", "sizes"}, {"y"});
    StrAttr(n, "coordinate_transformation_mode", "tf_crop_and_resize");
    FloatAttr(n, "extrapolation_value", value);
    auto model = LoadOk(b);
    const std::string step = StepOf(*model, "Resize");
    INFO(step);
    CHECK_THAT(step, Contains(value == 9.99f ? "(float, nearest)" : "(int8, nearest)"));
    const auto y = RunOne(model, {0.5f, 1.0f, -0.5f, 0.2f});
    REQUIRE(y.size() == 3);
    CHECK(y[0] == (value == 9.99f ? value : 0.02f * 3));  // the code 6 dequantized: (6 - 3) x 0.02
    CHECK(y[1] == 0.02f * static_cast<float>(50 - 3 + 3));  // x[1] = 1.0: code 53, (53 - 3) x 0.02
    CHECK(y[2] == y[0]);
  }
  // integer tensors take the value as Cast converts a float: truncated, saturated
  for (const auto& [value, want] : {std::pair{-3.7f, -3.0f}, std::pair{1e30f, 2147483647.0f}}) {
    Builder b = Around(Form::kInt32, "Resize", {1, 4}, {"roi", "", "sizes"}, 1);
    b.Init("roi", {4}, {0, -0.5f, 1, 1.5f}).InitInts("sizes", {2}, {1, 3}, onnx::TensorProto::INT64);
    StrAttr(NodeOf(b, "Resize"), "coordinate_transformation_mode", "tf_crop_and_resize");
    FloatAttr(NodeOf(b, "Resize"), "extrapolation_value", value);
    CHECK(RunOne(LoadOk(b), {5, 6, 7, 8}) == std::vector<float>{want, 6, want});
  }
}

TEST_CASE("a Resize that moves nothing is its input, and unsupported Resizes are refused by name", "[engine][operators]") {
  auto identity = LoadOk(ResizeAround(Form::kInt8, {1, 2, 3}, {1, 1, 1}));
  CHECK(StepOf(*identity, "Resize").empty());
  struct Refusal {
    const char* what;
    std::function<void(Builder&)> edit;
    std::vector<float> scales;
    std::vector<int64_t> sizes;
    const char* error;
    Form form = Form::kFloat;
    int64_t opset = 13;
  };
  auto attr = [](const char* name, const char* value) {
    return [=](Builder& b) { StrAttr(NodeOf(b, "Resize"), name, value); };
  };
  auto none = [](Builder&) {};
  const std::vector<Refusal> refusals = {
      {"cubic", attr("mode", "cubic"), {1, 2, 2}, {}, "mode 'cubic' is not supported"},
      {"an unknown coordinate mode", attr("coordinate_transformation_mode", "sideways"), {1, 2, 2}, {}, "unknown coordinate_transformation_mode 'sideways'"},
      {"an unknown nearest mode", attr("nearest_mode", "up"), {1, 2, 2}, {}, "unknown nearest_mode 'up'"},
      {"a zero scale", none, {1, 0, 2}, {}, "scales must be finite and above 0"},
      {"a NaN scale", none, {1, std::nanf(""), 2}, {}, "scales must be finite and above 0"},
      {"scales of the wrong count", none, {2, 2}, {}, "scales has 2 elements for 3 axes"},
      {"negative sizes", none, {}, {1, -2, 2}, "sizes must be integers of 0 or more"},
      {"sizes past the tensor limit", none, {}, {1, 1 << 20, 1 << 20}, "more than"},
      {"neither scales nor sizes", none, {}, {}, "needs constant scales or sizes"},
      {"linear on int32", attr("mode", "linear"), {1, 2, 2}, {}, "linear Resize of an integer tensor is not supported", Form::kInt32},
      {"linear with antialias", [](Builder& b) { StrAttr(NodeOf(b, "Resize"), "mode", "linear"); IntAttr(NodeOf(b, "Resize"), "antialias", 1); },
       {1, 0.5f, 0.5f}, {}, "antialias is not supported", Form::kFloat, 18},
      {"keep_aspect_ratio_policy", attr("keep_aspect_ratio_policy", "not_larger"), {}, {1, 4, 4}, "keep_aspect_ratio_policy", Form::kFloat, 18},
  };
  for (const Refusal& r : refusals) {
    INFO(r.what);
    Builder b = ResizeAround(r.form, {1, 2, 3}, r.scales, r.sizes, r.opset);
    r.edit(b);
    auto m = b.Load();
    REQUIRE_FALSE(m.has_value());
    CHECK_THAT(m.error().message, Contains(r.error) && Contains("(Resize)"));
  }
  // an output axis of size 0 (not the input passed through), an axis too long for its tables
  for (const auto& [scales, error] : {std::pair{std::vector<float>{1, 1, 0.2f}, "of the output would have size 0"},
                                      std::pair{std::vector<float>{1, 1, 2e6f}, "would have more than 4194304 elements, the most Resize takes per axis"}}) {
    auto r = ResizeAround(Form::kFloat, {1, 2, 3}, scales).Load();
    REQUIRE_FALSE(r.has_value());
    CHECK_THAT(r.error().message, Contains(error));
  }
  // both scales and sizes
  Builder both = Around(Form::kFloat, "Resize", {1, 2, 3}, {"", "scales", "sizes"}, 1);
  both.Init("scales", {3}, {1, 2, 2}).InitInts("sizes", {3}, {1, 4, 6}, onnx::TensorProto::INT64);
  auto m = both.Load();
  REQUIRE_FALSE(m.has_value());
  CHECK_THAT(m.error().message, Contains("scales or sizes, not both"));
}

}  // namespace edge::engine::testing
