// MaxPool fast paths (2-wide stride-2 windows, 1-D and 2x2; int8 windows over padding) and the
// windowed int8 AveragePool against the definition.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include "agent/engine/engine.h"
#include "edge_onnx/onnx.pb.h"
#include "agent/engine/kernels/elementwise.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine {
namespace {

std::shared_ptr<const Model> MaxPoolModel(const std::vector<int64_t>& shape, const std::vector<int64_t>& kernel,
                                          const std::vector<int64_t>& strides) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : shape) in->mutable_type()->mutable_tensor_type()->mutable_shape()->add_dim()->set_dim_value(d);
  g->add_output()->set_name("y");
  auto* n = g->add_node();
  n->set_op_type("MaxPool");
  n->add_input("x");
  n->add_output("y");
  auto* k = n->add_attribute();
  k->set_name("kernel_shape");
  k->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : kernel) k->add_ints(v);
  auto* s = n->add_attribute();
  s->set_name("strides");
  s->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : strides) s->add_ints(v);
  std::string bytes;
  m.SerializeToString(&bytes);
  auto model = Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
  INFO((model ? "" : model.error().message));
  REQUIRE(model.has_value());
  return *model;
}

TEST_CASE("2-wide stride-2 MaxPool fast paths match the definition", "[engine][ops]") {
  std::mt19937 rng(11);
  std::normal_distribution<float> dist;
  struct Case {
    std::vector<int64_t> shape, kernel, strides;
  };
  for (const Case& c : {Case{{1, 3, 9}, {2}, {2}}, Case{{1, 2, 5, 7}, {2, 2}, {2, 2}},
                        Case{{2, 3, 8, 8}, {2, 2}, {2, 2}}, Case{{1, 1, 3, 33}, {1, 2}, {1, 2}}}) {
    auto model = MaxPoolModel(c.shape, c.kernel, c.strides);
    const auto& out = model->outputs()[0];
    std::vector<float> x(static_cast<size_t>(model->inputs()[0].elements)), y(static_cast<size_t>(out.elements));
    for (float& v : x) v = dist(rng);
    ExecutionContext ctx(model);
    const float* xp = x.data();
    float* yp = y.data();
    REQUIRE(ctx.Run({&xp, 1}, {&yp, 1}).has_value());
    const bool two_d = c.shape.size() == 4;
    const int64_t ih = two_d ? c.shape[2] : 1, iw = c.shape.back();
    const int64_t oh = two_d ? out.shape[2] : 1, ow = out.shape.back();
    const int64_t kh = two_d ? c.kernel[0] : 1, kw = c.kernel.back();
    const int64_t sh = two_d ? c.strides[0] : 1, sw = c.strides.back();
    const int64_t planes = c.shape[0] * c.shape[1];
    for (int64_t p = 0; p < planes; ++p) {
      for (int64_t oy = 0; oy < oh; ++oy) {
        for (int64_t ox = 0; ox < ow; ++ox) {
          float best = -1e30f;
          for (int64_t ky = 0; ky < kh; ++ky) {
            for (int64_t kx = 0; kx < kw; ++kx) best = std::max(best, x[(p * ih + oy * sh + ky) * iw + ox * sw + kx]);
          }
          REQUIRE(y[(p * oh + oy) * ow + ox] == best);
        }
      }
    }
  }
}

}  // namespace
}  // namespace edge::engine

namespace edge::engine {
namespace {

// An int8 MaxPool whose windows reach over its padding runs through a padded copy of each
// plane (-128 around it) and the tier's row kernel: equal to the definition (the maximum of the
// window's input elements) at every tier, for odd sizes, strides, dilations and rows wider
// than one vector.
TEST_CASE("int8 MaxPool (over padding, short rows) equals the definition at every tier", "[engine][ops][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> value(-128, 127);
  struct Case {
    std::vector<int64_t> shape, kernel, strides, dilations, pads;
  };
  const std::vector<Case> cases = {
      {{1, 3, 13, 29}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}},
      {{1, 2, 9, 40}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{2, 2, 11, 37}, {3, 2}, {1, 2}, {2, 1}, {2, 0, 1, 1}},
      {{1, 1, 5, 70}, {2, 5}, {1, 1}, {1, 2}, {0, 3, 1, 2}},
      // windows inside the input, rows shorter than the kernels' widest step (the flat-plane
      // pass): 2x2 stride 2 on 28x28, 3x3 stride 2 on odd sizes, stride 1, stride 3 (per row)
      {{1, 4, 28, 28}, {2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {{2, 3, 15, 21}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 7, 9}, {2, 2}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 12, 14}, {3, 2}, {2, 1}, {1, 2}, {0, 0, 0, 0}},
      {{1, 2, 13, 20}, {3, 3}, {3, 3}, {1, 1}, {1, 1, 1, 1}},
      // small planes, several per flat pass (odd_strides' pool; 70 planes of 120 bytes: two
      // passes, the second short; batch 2; an odd plane at stride 2: one plane per pass)
      {{1, 24, 11, 4}, {3, 2}, {2, 1}, {1, 1}, {0, 0, 0, 0}},
      {{1, 70, 12, 10}, {2, 3}, {2, 1}, {1, 1}, {0, 0, 0, 0}},
      {{2, 40, 9, 8}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {{1, 5, 7, 9}, {2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      // strides 3 and 4 along rows long enough for the vector steps (MaxPool1d(3) as H = 1,
      // a 2x4 window at stride 4, 3x3 stride 3 over padding, a 2-wide window at stride 3)
      {{1, 3, 1, 200}, {1, 3}, {1, 3}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 6, 130}, {2, 4}, {2, 4}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 10, 101}, {3, 3}, {3, 3}, {1, 1}, {1, 1, 1, 1}},
      {{2, 2, 3, 77}, {1, 2}, {1, 3}, {1, 1}, {0, 0, 0, 0}},
      // windows taller than the row kernels take (64 rows): the taps loop, inside and over padding
      {{1, 2, 70, 6}, {65, 2}, {1, 1}, {1, 1}, {0, 0, 0, 0}},
      {{1, 1, 70, 5}, {66, 2}, {2, 1}, {1, 1}, {1, 0, 1, 1}},
      // strides 3 and 4 on rows under 8 outputs: the flat-plane pass where sh * pitch divides
      // by sw (3x3/3 on 12x12 and 13x10, 4x4/4 on 16x16 in a batch, 2x4/(2,4) on 12x12, over
      // padding on 10x10), per row where it does not (sw 3 on a 14-wide plane, 3x4/(3,4) 11x11)
      {{1, 3, 12, 12}, {3, 3}, {3, 3}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 13, 10}, {3, 3}, {3, 3}, {1, 1}, {0, 0, 0, 0}},
      {{2, 2, 16, 16}, {4, 4}, {4, 4}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 12, 12}, {2, 4}, {2, 4}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 10, 10}, {3, 3}, {3, 3}, {1, 1}, {1, 1, 1, 1}},
      {{1, 2, 9, 14}, {2, 2}, {1, 3}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 11, 11}, {3, 4}, {3, 4}, {1, 1}, {0, 0, 0, 0}},
      // stride 2, windows of several rows: the rows' maxima first, then the windows along them
      // (32 outputs a pick, 16, a scalar tail; dilated taps), and over padding a row of window
      // maxima with -128 margins (a ceil_mode-style end pad, ResNet's pad 1)
      {{2, 2, 33, 65}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 9, 35}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 5, 100}, {2, 3}, {2, 2}, {1, 2}, {0, 0, 0, 0}},
      {{1, 3, 32, 32}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 1, 1}},
      {{1, 2, 48, 48}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{1, 2, 17, 15}, {3, 3}, {2, 2}, {2, 1}, {2, 1, 2, 1}},
      // whole rows at column stride 2 in one call (AVX-512 VBMI, MaxPoolPlanesFn): windows 2-3
      // wide, 1-4 tall at row strides 1-3, left pads 0-2 with rows at the 64-byte limit (62 +
      // 2, 63 + 1, 64 + 0, 31 outputs) and past it (65; 32 outputs: the row kernels),
      // ceil-style end pads, a window row wholly in the padding
      {{2, 3, 32, 32}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 1, 1}},
      {{1, 2, 16, 16}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 1, 1}},
      {{1, 2, 9, 62}, {3, 3}, {2, 2}, {1, 1}, {2, 2, 2, 0}},
      {{1, 2, 7, 63}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 0}},
      {{1, 2, 5, 64}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 7, 64}, {2, 3}, {1, 2}, {1, 1}, {0, 0, 1, 1}},
      {{1, 2, 7, 65}, {3, 3}, {2, 2}, {1, 1}, {0, 0, 0, 0}},
      {{1, 2, 7, 63}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{1, 3, 10, 21}, {4, 2}, {3, 2}, {1, 1}, {3, 1, 3, 1}},
      {{1, 1, 3, 5}, {1, 3}, {1, 2}, {1, 1}, {0, 2, 0, 2}},
      {{1, 2, 11, 30}, {3, 2}, {3, 2}, {1, 1}, {2, 0, 2, 0}},
  };
  for (KernelTier tier : tiers) {
    for (const auto& c : cases) {
      testing::Builder b(13);
      b.Input("x", c.shape, onnx::TensorProto::INT8).Output("y");
      auto* n = b.Node("MaxPool", {"x"}, {"y"});
      testing::IntsAttr(n, "kernel_shape", c.kernel);
      testing::IntsAttr(n, "strides", c.strides);
      testing::IntsAttr(n, "dilations", c.dilations);
      testing::IntsAttr(n, "pads", c.pads);
      auto model = testing::LoadOk(b);
      std::vector<float> x(static_cast<size_t>(model->inputs()[0].elements));
      for (float& v : x) v = static_cast<float>(value(rng));
      const auto y = testing::RunAll(model, {x}, tier)[0];
      const auto& os = model->outputs()[0].shape;
      const int64_t ih = c.shape[2], iw = c.shape[3], oh = os[2], ow = os[3];
      for (int64_t p = 0; p < c.shape[0] * c.shape[1]; ++p)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            float best = -1000;
            for (int64_t ky = 0; ky < c.kernel[0]; ++ky)
              for (int64_t kx = 0; kx < c.kernel[1]; ++kx) {
                const int64_t iy = oy * c.strides[0] - c.pads[0] + ky * c.dilations[0];
                const int64_t ix = ox * c.strides[1] - c.pads[1] + kx * c.dilations[1];
                if (iy >= 0 && iy < ih && ix >= 0 && ix < iw) best = std::max(best, x[(p * ih + iy) * iw + ix]);
              }
            INFO("tier " << KernelTierName(tier) << " shape " << c.shape[2] << "x" << c.shape[3] << " at " << p << ","
                         << oy << "," << ox);
            REQUIRE(y[(p * oh + oy) * ow + ox] == best);
          }
    }
  }
}


// QuantizeLinear -> DequantizeLinear -> AveragePool -> QuantizeLinear (-> DequantizeLinear, the
// graph output): the pool runs as one int8 step: every window's sum of
// x - zi over its divisor (ONNX's count: with count_include_pad the window clipped to the padded
// extent, else the input elements it covers), times s_in / s_out, rounded half to even, at
// every tier: padding on each side, ceil mode, strides 1-3, 1-D and rows of 1-40 outputs.
// A window whose dilation skips every input row is wholly padding: the lowest value of the
// type (ONNX Runtime: -FLT_MAX for float; -128 for int8), not 0. Float, int8 with the row form
// over padding, and int8 with more window rows than it takes (the generic loop).
TEST_CASE("a MaxPool window wholly in the padding gives the type's lowest value", "[engine][ops][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  struct Case {
    onnx::TensorProto::DataType type;
    std::vector<int64_t> shape, kernel, dilations, pads;
    float lowest;
  };
  const std::vector<Case> cases = {
      {onnx::TensorProto::FLOAT, {1, 1, 1, 4}, {2, 1}, {2, 1}, {1, 0, 1, 0}, std::numeric_limits<float>::lowest()},
      {onnx::TensorProto::INT8, {1, 1, 1, 20}, {2, 1}, {2, 1}, {1, 0, 1, 0}, -128.0f},
      {onnx::TensorProto::INT8, {1, 1, 66, 1}, {66, 2}, {1, 2}, {0, 1, 0, 1}, -128.0f},
  };
  int padded = 0;
  for (KernelTier tier : tiers) {
    for (const Case& c : cases) {
      testing::Builder b(13);
      b.Input("x", c.shape, c.type).Output("y");
      auto* n = b.Node("MaxPool", {"x"}, {"y"});
      testing::IntsAttr(n, "kernel_shape", c.kernel);
      testing::IntsAttr(n, "dilations", c.dilations);
      testing::IntsAttr(n, "pads", c.pads);
      auto model = testing::LoadOk(b);
      std::vector<float> x(static_cast<size_t>(model->inputs()[0].elements));
      for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
      const auto y = testing::RunAll(model, {x}, tier)[0];
      INFO("tier " << KernelTierName(tier) << " input " << c.shape[2] << "x" << c.shape[3]);
      REQUIRE(!y.empty());
      // the wholly padded windows: every output whose window rows all miss the input
      const int64_t ih = c.shape[2], oh = model->outputs()[0].shape[2], ow = model->outputs()[0].shape[3];
      for (int64_t oy = 0; oy < oh; ++oy) {
        bool inside = false;
        for (int64_t ky = 0; ky < c.kernel[0]; ++ky) {
          const int64_t iy = oy - c.pads[0] + ky * c.dilations[0];
          inside = inside || (iy >= 0 && iy < ih);
        }
        for (int64_t ox = 0; ox < ow; ++ox) {  // and the columns
          bool col_inside = false;
          for (int64_t kx = 0; kx < c.kernel[1]; ++kx) {
            const int64_t ix = ox - c.pads[1] + kx * c.dilations[1];
            col_inside = col_inside || (ix >= 0 && ix < c.shape[3]);
          }
          if (!inside || !col_inside) {
            CHECK(y[static_cast<size_t>(oy * ow + ox)] == c.lowest);
            ++padded;
          }
        }
      }
    }
  }
  CHECK(padded >= 3);  // each case has such windows
}

TEST_CASE("int8 windowed AveragePool equals the definition at every tier", "[engine][ops][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> value(-128, 127);
  struct Case {
    std::vector<int64_t> shape, kernel, strides, pads;
    int include_pad, ceil;
    int zi, zo;
  };
  const std::vector<Case> cases = {
      {{1, 4, 28, 28}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 0, 3, -5},
      {{1, 3, 13, 29}, {3, 3}, {1, 1}, {1, 1, 1, 1}, 0, 0, -128, 0},
      {{1, 3, 13, 29}, {3, 3}, {1, 1}, {1, 1, 1, 1}, 1, 0, 20, 7},
      {{2, 2, 11, 37}, {3, 2}, {2, 1}, {1, 0, 1, 1}, 1, 0, -7, 127},
      {{1, 2, 9, 40}, {2, 3}, {2, 2}, {0, 1, 0, 0}, 0, 1, 0, 0},
      {{1, 2, 10, 31}, {3, 3}, {2, 2}, {1, 1, 1, 1}, 1, 1, 5, -3},
      {{1, 1, 17, 50}, {5, 5}, {3, 3}, {2, 2, 2, 2}, 0, 0, 1, 1},
      {{1, 2, 5, 7}, {4, 4}, {1, 3}, {0, 0, 0, 0}, 0, 1, -2, 9},
      {{1, 3, 50}, {4}, {2}, {1, 1}, 0, 0, 4, -4},
      {{1, 3, 50}, {3}, {1}, {2, 2}, 1, 0, -60, 60},
      {{1, 2, 80, 6}, {70, 2}, {5, 1}, {0, 0, 0, 0}, 0, 0, 9, -9},  // a window of 70 rows
      // strides 3 and 4 along rows long enough for the vector steps (AvgPool1d(3), (4))
      {{1, 3, 200}, {3}, {3}, {0, 0}, 0, 0, 2, -2},
      {{1, 2, 257}, {4}, {4}, {1, 1}, 1, 1, -9, 5},
      {{1, 2, 5, 150}, {2, 3}, {2, 3}, {0, 0, 0, 0}, 0, 0, 0, 3},
      // strides 3 and 4 on rows under 8 outputs (the flat-plane pass where it applies)
      {{1, 3, 12, 12}, {3, 3}, {3, 3}, {0, 0, 0, 0}, 0, 0, 4, -1},
      {{2, 2, 16, 16}, {4, 4}, {4, 4}, {0, 0, 0, 0}, 0, 0, -3, 2},
      {{1, 2, 10, 10}, {3, 3}, {3, 3}, {1, 1, 1, 1}, 1, 0, 6, 0},
      {{1, 2, 11, 13}, {3, 3}, {3, 3}, {0, 0, 0, 0}, 0, 1, 1, 1},
      // 2x2 stride 2 inside the input (the tiers' one-pass form): rows of 16 outputs and more
      // (the last step moved back), of 8 to 15, of 8 with an odd last column and row left out,
      // under 8 (the row kernels), extreme zero points; then ceil mode over an odd edge
      {{1, 3, 9, 36}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 0, -128, 127},
      {{2, 2, 6, 64}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 1, 0, 127, -128},
      {{1, 2, 6, 20}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 0, -1, 0},
      {{1, 2, 7, 17}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 0, 13, -13},
      {{1, 2, 6, 13}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 0, 2, 2},
      {{1, 2, 7, 35}, {2, 2}, {2, 2}, {0, 0, 0, 0}, 0, 1, -3, 4},
  };
  const float s_in = 0.0625f, s_out = 0.0375f;
  for (KernelTier tier : tiers) {
    for (size_t ci = 0; ci < cases.size(); ++ci) {
      const Case& c = cases[ci];
      const bool two_d = c.shape.size() == 4;
      testing::Builder b(13);
      b.Input("x", c.shape)
          .Init("s_in", {}, {s_in})
          .Init("s_out", {}, {s_out})
          .InitI8("zi", {}, {c.zi})
          .InitI8("zo", {}, {c.zo})
          .Output("y");
      b.Node("QuantizeLinear", {"x", "s_in", "zi"}, {"xq"});
      b.Node("DequantizeLinear", {"xq", "s_in", "zi"}, {"xd"});
      auto* n = b.Node("AveragePool", {"xd"}, {"f"});
      testing::IntsAttr(n, "kernel_shape", c.kernel);
      testing::IntsAttr(n, "strides", c.strides);
      testing::IntsAttr(n, "pads", c.pads);
      testing::IntAttr(n, "count_include_pad", c.include_pad);
      testing::IntAttr(n, "ceil_mode", c.ceil);
      b.Node("QuantizeLinear", {"f", "s_out", "zo"}, {"q"});
      b.Node("DequantizeLinear", {"q", "s_out", "zo"}, {"y"});
      auto model = testing::LoadOk(b);
      bool int8_step = false;
      for (const auto& step : model->StepSummary()) {
        int8_step = int8_step || (step.find("AveragePool") != std::string::npos && step.find("int8") != std::string::npos);
      }
      INFO("steps: " << [&] { std::string all; for (const auto& step : model->StepSummary()) all += step + "; "; return all; }());
      REQUIRE(int8_step);
      // the int8 input q, given as (q - zi) * s_in: exact with s_in a power of two
      std::vector<int> q(static_cast<size_t>(model->inputs()[0].elements));
      std::vector<float> x(q.size());
      for (size_t i = 0; i < q.size(); ++i) {
        q[i] = value(rng);
        x[i] = static_cast<float>(q[i] - c.zi) * s_in;
      }
      const auto y = testing::RunAll(model, {x}, tier)[0];
      const auto& os = model->outputs()[0].shape;
      const int64_t ih = two_d ? c.shape[2] : 1, iw = c.shape.back(), oh = two_d ? os[2] : 1, ow = os.back();
      const int64_t kh = two_d ? c.kernel[0] : 1, kw = c.kernel.back(), sh = two_d ? c.strides[0] : 1,
                    sw = c.strides.back();
      const int64_t pt = two_d ? c.pads[0] : 0, pl = two_d ? c.pads[1] : c.pads[0];
      const int64_t pb = two_d ? c.pads[2] : 0, pr = two_d ? c.pads[3] : c.pads[1];
      const float ratio = s_in / s_out;
      for (int64_t p = 0; p < c.shape[0] * c.shape[1]; ++p)
        for (int64_t oy = 0; oy < oh; ++oy)
          for (int64_t ox = 0; ox < ow; ++ox) {
            const int64_t y0 = oy * sh - pt, x0 = ox * sw - pl;
            const int64_t y1 = std::min(y0 + kh, ih + pb), x1 = std::min(x0 + kw, iw + pr);
            int32_t sum = 0, count = 0;
            for (int64_t iy = std::max<int64_t>(y0, 0); iy < std::min(y1, ih); ++iy)
              for (int64_t ix = std::max<int64_t>(x0, 0); ix < std::min(x1, iw); ++ix) {
                sum += q[(p * ih + iy) * iw + ix] - c.zi;
                ++count;
              }
            const int64_t div = c.include_pad ? (y1 - y0) * (x1 - x0) : count;
            const float mean = div > 0 ? static_cast<float>(sum) / static_cast<float>(div) : 0.0f;
            const int8_t want = SaturateToInt8(mean * ratio, c.zo, -128, 127);
            INFO("tier " << KernelTierName(tier) << " case " << ci << " at " << p << "," << oy << "," << ox);
            REQUIRE(y[(p * oh + oy) * ow + ox] == static_cast<float>(want - c.zo) * s_out);
          }
    }
  }
}

TEST_CASE("AveragePool's opset-19 dilations: ones are the plain pool, others are refused by name", "[engine][ops]") {
  const auto build = [](std::vector<int64_t> dilations) {
    testing::Builder b(19);
    b.Input("x", {1, 2, 6, 8}).Output("y");
    auto* n = b.Node("AveragePool", {"x"}, {"y"});
    testing::IntsAttr(n, "kernel_shape", {2, 2});
    testing::IntsAttr(n, "strides", {2, 2});
    testing::IntsAttr(n, "dilations", dilations);
    return b;
  };
  auto model = testing::LoadOk(build({1, 1}));
  std::vector<float> x(96);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) - 3.0f;
  const auto y = testing::RunAll(model, {x}, KernelTier::kScalar)[0];
  REQUIRE(y.size() == 24);
  for (int64_t p = 0; p < 2; ++p)
    for (int64_t oy = 0; oy < 3; ++oy)
      for (int64_t ox = 0; ox < 4; ++ox) {
        const auto at = [&](int64_t dy, int64_t dx) { return x[static_cast<size_t>((p * 6 + 2 * oy + dy) * 8 + 2 * ox + dx)]; };
        CHECK(y[static_cast<size_t>((p * 3 + oy) * 4 + ox)] == (at(0, 0) + at(0, 1) + at(1, 0) + at(1, 1)) / 4.0f);
      }
  auto refused = build({2, 1}).Load();
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("dilations other than 1 are not supported for AveragePool"));
}

TEST_CASE("an int8 pool or Add whose scale ratio overflows float is refused at load, by name", "[engine][ops]") {
  // 1e30 / 1e-9 is past FLT_MAX: a zero window sum times it would be NaN, saturating to -128
  // where ONNX Runtime gives the zero point
  for (const std::string op : {"AveragePool", "Add"}) {
    testing::Builder b(13);
    b.Input("x", {1, 2, 4, 64})
        .Init("s_in", {}, {1e30f})
        .Init("s_out", {}, {1e-9f})
        .InitI8("zi", {}, {5})
        .InitI8("zo", {}, {-3})
        .Output("y");
    b.Node("QuantizeLinear", {"x", "s_in", "zi"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "s_in", "zi"}, {"xd"});
    auto* n = b.Node(op, op == "Add" ? std::vector<std::string>{"xd", "xd"} : std::vector<std::string>{"xd"}, {"f"});
    if (op == "AveragePool") {
      testing::IntsAttr(n, "kernel_shape", {2, 2});
      testing::IntsAttr(n, "strides", {2, 2});
    }
    b.Node("QuantizeLinear", {"f", "s_out", "zo"}, {"q"});
    b.Node("DequantizeLinear", {"q", "s_out", "zo"}, {"y"});
    auto refused = b.Load();
    INFO(op);
    REQUIRE_FALSE(refused);
    CHECK_THAT(refused.error().message,
               Catch::Contains("requantization ratio (input scale 1e+30 / output scale 1e-09) is not finite"));
    CHECK_THAT(refused.error().message, Catch::Contains("quantize the model again"));
    CHECK_THAT(refused.error().message, Catch::Contains("(" + op + ")"));
    // the node is named once (the compiler's prefix), not twice
    const std::string& m = refused.error().message;
    CHECK(m.find("node '") == m.rfind("node '"));
  }
}

}  // namespace
}  // namespace edge::engine

namespace edge::engine {
namespace {

// int8 ReduceMean between QDQ pairs over random axis sets (trailing, leading, a block in the
// middle as a mean over frequency, and scattered), keepdims either way, at every tier:
// sum(q - zx) over the reduced elements, float(sum) / float(count), times sx / sy, rounded as
// every int8 op rounds.
TEST_CASE("int8 ReduceMean over any axes equals the definition at every tier", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261207);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int int8_steps = 0;
  for (int iter = 0; iter < 120; ++iter) {
    const int rank = static_cast<int>(pick(2, 5));
    std::vector<int64_t> shape(static_cast<size_t>(rank));
    for (auto& d : shape) d = pick(1, iter % 4 == 0 ? 40 : 12);
    if (iter % 3 == 0 && rank >= 3) shape[static_cast<size_t>(rank - 1)] = pick(60, 130);  // long kept rows
    std::vector<int64_t> axes;
    for (int d = 0; d < rank; ++d) {
      if (pick(0, 2) == 0) axes.push_back(d);
    }
    if (axes.empty()) axes.push_back(pick(0, rank - 1));
    const bool keep = pick(0, 1) == 1;
    const float sx = 0.01f * static_cast<float>(pick(1, 200)), sy = 0.01f * static_cast<float>(pick(1, 200));
    const int zx = static_cast<int>(pick(-128, 127)), zy = static_cast<int>(pick(-128, 127));
    testing::Builder b(13);
    b.Input("x", shape).Output("y");
    b.Init("sx", {}, {sx}).InitI8("zx", {}, {zx}).Init("sy", {}, {sy}).InitI8("zy", {}, {zy});
    b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
    auto* mean = b.Node("ReduceMean", {"xd"}, {"m"});
    testing::IntsAttr(mean, "axes", axes);
    testing::IntAttr(mean, "keepdims", keep ? 1 : 0);
    b.Node("QuantizeLinear", {"m", "sy", "zy"}, {"mq"});
    b.Node("DequantizeLinear", {"mq", "sy", "zy"}, {"y"});
    auto model = testing::LoadOk(b);
    for (const auto& s : model->StepSummary()) int8_steps += s.find("ReduceMean") != std::string::npos && s.find("int8") != std::string::npos;
    int64_t total = 1;
    for (int64_t d : shape) total *= d;
    std::vector<int> q(static_cast<size_t>(total));
    std::vector<float> x(q.size());
    for (size_t i = 0; i < q.size(); ++i) {
      q[i] = static_cast<int>(pick(-128, 127));
      x[i] = static_cast<float>(q[i] - zx) * sx;
    }
    // the definition: output index = input index with the reduced axes dropped
    std::vector<bool> reduced(static_cast<size_t>(rank), false);
    for (int64_t a : axes) reduced[static_cast<size_t>(a)] = true;
    int64_t outputs = 1, count = 1;
    for (int d = 0; d < rank; ++d) (reduced[d] ? count : outputs) *= shape[d];
    std::vector<int64_t> sums(static_cast<size_t>(outputs), 0);
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    for (int64_t i = 0; i < total; ++i) {
      int64_t o = 0;
      for (int d = 0; d < rank; ++d) {
        if (!reduced[d]) o = o * shape[d] + idx[d];
      }
      sums[static_cast<size_t>(o)] += q[static_cast<size_t>(i)] - zx;
      for (int d = rank - 1; d >= 0; --d) {
        if (++idx[d] < shape[d]) break;
        idx[d] = 0;
      }
    }
    std::vector<float> want(sums.size());
    for (size_t o = 0; o < sums.size(); ++o) {
      const float m = static_cast<float>(sums[o]) / static_cast<float>(count);
      want[o] = static_cast<float>(SaturateToInt8(m * (sx / sy), zy, -128, 127) - zy) * sy;
    }
    for (KernelTier tier : tiers) {
      INFO("iteration " << iter << " rank " << rank << " tier " << KernelTierName(tier));
      REQUIRE(testing::RunAll(model, {x}, tier)[0] == want);
    }
  }
  CHECK(int8_steps >= 100);
}

}  // namespace
}  // namespace edge::engine

namespace edge::engine::testing {
namespace {

// A 2-D pool `op` on x [1, planes, ih, iw] (opset 12), its window attributes set.
Builder PoolModel(const std::string& op, int64_t planes, int64_t ih, int64_t iw, const std::vector<int64_t>& k,
                  const std::vector<int64_t>& s, const std::vector<int64_t>& pad, bool ceil) {
  Builder b(12);
  b.Input("x", {1, planes, ih, iw}).Output("y");
  auto* n = b.Node(op, {"x"}, {"y"});
  IntsAttr(n, "kernel_shape", k);
  IntsAttr(n, "strides", s);
  IntsAttr(n, "pads", pad);
  IntAttr(n, "ceil_mode", ceil ? 1 : 0);
  return b;
}

// One MaxPool window at a time in the window's order: its first element inside the input, then
// each greater one; -FLT_MAX for a window wholly in the padding.
std::vector<float> WindowMaxPool(const std::vector<float>& x, int64_t planes, int64_t ih, int64_t iw, int64_t oh, int64_t ow,
                                 const std::vector<int64_t>& k, const std::vector<int64_t>& s, const std::vector<int64_t>& d,
                                 const std::vector<int64_t>& pad) {
  std::vector<float> y(static_cast<size_t>(planes * oh * ow));
  for (int64_t p = 0; p < planes; ++p) {
    for (int64_t oy = 0; oy < oh; ++oy) {
      for (int64_t ox = 0; ox < ow; ++ox) {
        bool any = false;
        float best = 0.0f;
        for (int64_t ky = 0; ky < k[0]; ++ky) {
          for (int64_t kx = 0; kx < k[1]; ++kx) {
            const int64_t iy = oy * s[0] - pad[0] + ky * d[0], ix = ox * s[1] - pad[1] + kx * d[1];
            if (iy < 0 || iy >= ih || ix < 0 || ix >= iw) continue;
            const float v = x[static_cast<size_t>((p * ih + iy) * iw + ix)];
            if (!any || v > best) best = v;
            any = true;
          }
        }
        y[static_cast<size_t>((p * oh + oy) * ow + ox)] = any ? best : std::numeric_limits<float>::lowest();
      }
    }
  }
  return y;
}

TEST_CASE("float MaxPool takes each window's elements in order, NaNs and padding included, for any window", "[engine][pool]") {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> value(-4.0f, 4.0f);
  struct Case {
    int64_t ih, iw;
    std::vector<int64_t> k, s, d, pad;  // pad: top, left, bottom, right
    bool ceil;
  };
  const Case cases[] = {
      {28, 28, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, false},   // multiscale_concat's pool
      {13, 17, {3, 2}, {2, 3}, {1, 1}, {1, 0, 1, 1}, true},
      {9, 700, {2, 5}, {1, 2}, {2, 3}, {0, 4, 1, 2}, false},   // a row past one 512-output chunk
      {6, 6, {2, 2}, {2, 2}, {1, 1}, {0, 0, 0, 0}, false},     // the pairs path
      {7, 7, {7, 7}, {1, 1}, {1, 1}, {0, 0, 0, 0}, false},     // a whole-plane window
      {3, 3, {2, 2}, {1, 1}, {4, 4}, {1, 1, 1, 1}, false},     // a window wholly in the padding
  };
  for (const Case& c : cases) {
    const int64_t planes = 3;
    std::vector<float> x(static_cast<size_t>(planes * c.ih * c.iw));
    for (float& v : x) v = value(rng);
    for (size_t i = 0; i < x.size(); i += 7) x[i] = std::numeric_limits<float>::quiet_NaN();
    Builder b = PoolModel("MaxPool", planes, c.ih, c.iw, c.k, c.s, c.pad, c.ceil);
    IntsAttr(b.proto().mutable_graph()->mutable_node(0), "dilations", c.d);
    auto model = LoadOk(b);
    const auto& shape = model->outputs()[0].shape;
    const auto want = WindowMaxPool(x, planes, c.ih, c.iw, shape[2], shape[3], c.k, c.s, c.d, c.pad);
    const auto got = RunAll(model, {x}).at(0);
    REQUIRE(got.size() == want.size());
    INFO("input " << c.ih << " x " << c.iw << ", kernel " << c.k[0] << " x " << c.k[1]);
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);  // NaN payloads too
  }
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

TEST_CASE("float AveragePool sums each window in its order, for any window, padding and count mode", "[engine][pool]") {
  std::mt19937 rng(12);
  std::uniform_real_distribution<float> value(-4.0f, 4.0f);
  struct Case {
    int64_t ih, iw;
    std::vector<int64_t> k, s, pad;  // pad: top, left, bottom, right
    bool ceil, include_pad;
  };
  const Case cases[] = {
      {28, 28, {2, 2}, {2, 2}, {0, 0, 0, 0}, false, false},  // multiscale_concat's pool
      {13, 17, {3, 3}, {2, 3}, {1, 2, 1, 0}, true, false},
      {13, 17, {3, 3}, {2, 3}, {1, 2, 1, 0}, true, true},
      {9, 700, {2, 5}, {1, 2}, {0, 4, 1, 2}, false, true},
      {7, 7, {7, 7}, {1, 1}, {0, 0, 0, 0}, false, false},
  };
  for (const Case& c : cases) {
    const int64_t planes = 2;
    std::vector<float> x(static_cast<size_t>(planes * c.ih * c.iw));
    for (float& v : x) v = value(rng);
    Builder b = PoolModel("AveragePool", planes, c.ih, c.iw, c.k, c.s, c.pad, c.ceil);
    IntAttr(b.proto().mutable_graph()->mutable_node(0), "count_include_pad", c.include_pad ? 1 : 0);
    auto model = LoadOk(b);
    const auto& shape = model->outputs()[0].shape;
    const int64_t oh = shape[2], ow = shape[3];
    // one window at a time: its elements inside the input summed in order from 0, then divided
    std::vector<float> want(static_cast<size_t>(planes * oh * ow));
    for (int64_t p = 0; p < planes; ++p) {
      for (int64_t oy = 0; oy < oh; ++oy) {
        for (int64_t ox = 0; ox < ow; ++ox) {
          const int64_t y0 = oy * c.s[0] - c.pad[0], x0 = ox * c.s[1] - c.pad[1];
          const int64_t y1 = std::min(y0 + c.k[0], c.ih + c.pad[2]), x1 = std::min(x0 + c.k[1], c.iw + c.pad[3]);
          float sum = 0.0f;
          int64_t count = 0;
          for (int64_t y = std::max<int64_t>(y0, 0); y < std::min(y1, c.ih); ++y) {
            for (int64_t xx = std::max<int64_t>(x0, 0); xx < std::min(x1, c.iw); ++xx) {
              sum += x[static_cast<size_t>((p * c.ih + y) * c.iw + xx)];
              ++count;
            }
          }
          const int64_t div = c.include_pad ? (y1 - y0) * (x1 - x0) : count;
          want[static_cast<size_t>((p * oh + oy) * ow + ox)] = div > 0 ? sum / static_cast<float>(div) : 0.0f;
        }
      }
    }
    const auto got = RunAll(model, {x}).at(0);
    REQUIRE(got.size() == want.size());
    INFO("input " << c.ih << " x " << c.iw << ", kernel " << c.k[0] << " x " << c.k[1]);
    CHECK(std::memcmp(got.data(), want.data(), got.size() * sizeof(float)) == 0);
  }
}

}  // namespace
}  // namespace edge::engine::testing
