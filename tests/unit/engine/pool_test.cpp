// MaxPool fast paths (2-wide stride-2 windows, 1-D and 2x2; int8 windows over padding) against
// the definition.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>

#include "agent/engine/engine.h"
#include "edge_onnx/onnx.pb.h"
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
TEST_CASE("int8 MaxPool over padding equals the definition at every tier", "[engine][ops][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, KernelTier::kScalar, KernelTier::kAvx2, KernelTier::kAvx512Vnni, KernelTier::kAmx,
                        KernelTier::kNeon, KernelTier::kNeonDot, KernelTier::kI8mm);
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

}  // namespace
}  // namespace edge::engine
