// The float Conv step's tier row kernels (kernels/float_conv_simd.h: AVX2, AVX-512F) against
// the step's own loops (the scalar tier): the same products and sums in the same order, so the
// same bits, for random 1-D, 2-D and 3-D geometries (groups, strides, dilations, asymmetric
// pads, rows narrower and wider than a vector, fused clamps) and inputs with NaN and infinities
// (a NaN equals any NaN: which one an add of two keeps is the compiler's choice of operands).
// Maps whose rows would leave vectors part empty take the plane form (a vector of pixels
// spanning rows, kernels/float_conv_simd.h), checked the same way.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

struct FloatConvCase {
  int rank = 2;  // spatial dimensions
  int64_t batch = 1, cin = 1, cout = 1, group = 1;
  std::vector<int64_t> in, kernel, strides, dilations, pads;  // per spatial axis (pads: begins, then ends)
  bool bias = true;
  int clamp = 0;  // 0 none, 1 Relu, 2 Clip(-1, 2)
};

std::string Describe(const FloatConvCase& c) {
  auto list = [](const std::vector<int64_t>& v) {
    std::string s;
    for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
    return s;
  };
  return std::to_string(c.batch) + "x" + std::to_string(c.cin) + "x[" + list(c.in) + "] -> " + std::to_string(c.cout) +
         " group " + std::to_string(c.group) + " kernel " + list(c.kernel) + " strides " + list(c.strides) +
         " dilations " + list(c.dilations) + " pads " + list(c.pads) + (c.bias ? " bias" : "") + " clamp " +
         std::to_string(c.clamp);
}

// Appends a spatial axis to c: its input extent, kernel, stride, dilation and pads (the begin
// pad after the earlier axes' begins, the end pad last).
void AddAxis(FloatConvCase& c, int64_t in, int64_t k, int64_t s, int64_t dl, int64_t pb, int64_t pe) {
  c.pads.insert(c.pads.begin() + static_cast<std::ptrdiff_t>(c.in.size()), pb);
  c.pads.push_back(pe);
  c.in.push_back(in);
  c.kernel.push_back(k);
  c.strides.push_back(s);
  c.dilations.push_back(dl);
}

// The forms a float conv step takes on x86 (its summary says which).
enum class Form { kRows, kPlane, kPhases };

// The model of one Conv (and its clamp), and its outputs at `tiers` and at the scalar tier.
// Returns the form the conv took.
Form CheckCase(const FloatConvCase& c, std::mt19937& rng, const std::vector<KernelTier>& tiers) {
  INFO(Describe(c));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<int64_t> x_shape = {c.batch, c.cin}, w_shape = {c.cout, c.cin / c.group};
  x_shape.insert(x_shape.end(), c.in.begin(), c.in.end());
  w_shape.insert(w_shape.end(), c.kernel.begin(), c.kernel.end());
  int64_t w_count = 1, x_count = 1;
  for (int64_t d : w_shape) w_count *= d;
  for (int64_t d : x_shape) x_count *= d;
  std::vector<float> w(static_cast<size_t>(w_count)), b(static_cast<size_t>(c.cout));
  for (float& v : w) v = normal(rng);
  for (float& v : b) v = normal(rng);
  Builder m(13);
  m.Input("x", x_shape).Init("w", w_shape, w).Output("y");
  std::vector<std::string> inputs = {"x", "w"};
  if (c.bias) {
    m.Init("b", {c.cout}, b);
    inputs.push_back("b");
  }
  auto* conv = m.Node("Conv", inputs, {c.clamp == 0 ? "y" : "h"});
  IntsAttr(conv, "kernel_shape", c.kernel);
  IntsAttr(conv, "strides", c.strides);
  IntsAttr(conv, "dilations", c.dilations);
  IntsAttr(conv, "pads", c.pads);
  IntAttr(conv, "group", c.group);
  if (c.clamp == 1) m.Node("Relu", {"h"}, {"y"});
  if (c.clamp == 2) {
    m.Init("lo", {}, {-1.0f}).Init("hi", {}, {2.0f});
    m.Node("Clip", {"h", "lo", "hi"}, {"y"});
  }
  const auto model = LoadOk(m);
  std::vector<float> x(static_cast<size_t>(x_count));
  for (float& v : x) v = normal(rng);
  // a few NaNs and infinities: they must travel the same way
  std::uniform_int_distribution<size_t> at(0, x.size() - 1);
  if (x.size() > 8) {
    x[at(rng)] = std::numeric_limits<float>::quiet_NaN();
    x[at(rng)] = std::numeric_limits<float>::infinity();
    x[at(rng)] = -std::numeric_limits<float>::infinity();
  }
  const auto want = RunAll(model, {x}, KernelTier::kScalar)[0];
  for (KernelTier tier : tiers) {
    INFO("tier " << KernelTierName(tier));
    const auto got = RunAll(model, {x}, tier)[0];
    REQUIRE(got.size() == want.size());
    size_t differ = 0, first = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      // which NaN comes out where two meet depends on an add's operand order, which the
      // compiler may swap: a NaN equals a NaN here
      const bool same = std::memcmp(&got[i], &want[i], sizeof(float)) == 0 || (std::isnan(got[i]) && std::isnan(want[i]));
      if (!same && differ++ == 0) first = i;
    }
    INFO("first difference at " << first << ": " << got[first] << " against " << want[first]);
    CHECK(differ == 0);
  }
  for (const std::string& step : model->StepSummary()) {
    if (step.find(", whole-plane vectors of stride phases") != std::string::npos) return Form::kPhases;
    if (step.find(", whole-plane vectors") != std::string::npos) return Form::kPlane;
  }
  return Form::kRows;
}

}  // namespace

TEST_CASE("float Conv rows at every tier equal the step's own loops bit for bit", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(20261207);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  SECTION("common shapes") {
    FloatConvCase c;  // 3x3 pad 1, 32 -> 32 on 32 x 32 (the siamese branch)
    c.cin = c.cout = 32, c.in = {32, 32}, c.kernel = {3, 3}, c.strides = {1, 1}, c.dilations = {1, 1};
    c.pads = {1, 1, 1, 1}, c.clamp = 1;
    CheckCase(c, rng, tiers);
    c.strides = {2, 2}, c.in = {33, 31}, c.clamp = 0;  // stride 2, odd sizes
    CheckCase(c, rng, tiers);
    FloatConvCase v;  // a 3-D conv on 8 x 32 x 32
    v.rank = 3, v.cin = 8, v.cout = 16, v.in = {8, 32, 32}, v.kernel = {3, 3, 3}, v.strides = {1, 1, 1};
    v.dilations = {1, 1, 1}, v.pads = {1, 1, 1, 1, 1, 1}, v.clamp = 2;
    CheckCase(v, rng, tiers);
  }
  SECTION("random geometries") {
    for (int iter = 0; iter < 160; ++iter) {
      FloatConvCase c;
      c.rank = static_cast<int>(pick(1, 3));
      c.batch = pick(1, 2);
      c.group = pick(0, 3) == 0 ? pick(2, 3) : 1;
      c.cin = c.group * pick(1, 5);
      c.cout = c.group * pick(1, 6);
      if (pick(0, 5) == 0) c.group = c.cin = c.cout = pick(2, 9);  // depthwise
      c.bias = pick(0, 3) != 0;
      c.clamp = static_cast<int>(pick(0, 2));
      for (int d = 0; d < c.rank; ++d) {
        const bool last = d == c.rank - 1;  // the columns: widths around the vectors' 8 and 16
        const int64_t k = pick(1, last ? 5 : 3), s = pick(1, 3), dl = pick(1, 2);
        const int64_t reach = (k - 1) * dl + 1;
        const int64_t pb = pick(0, std::min<int64_t>(2, k - 1)), pe = pick(0, std::min<int64_t>(2, k - 1));
        AddAxis(c, std::max<int64_t>(reach - pb - pe, pick(1, last ? 70 : (c.rank == 3 ? 6 : 12))), k, s, dl, pb, pe);
      }
      CheckCase(c, rng, tiers);
    }
  }
  SECTION("whole-plane vectors: rows narrower than a vector, underfilled rows, 1x1 convs, stride phases") {
    // the plane form's blocks (8 and 4 channels x 2 vectors, single channels x 4, one vector),
    // tap loads, stride phases and gathers, planes not a multiple of a vector, taps in and out
    // of the map
    const Form kRows = Form::kRows, kPlane = Form::kPlane, kPhases = Form::kPhases;
    struct Shape {
      int64_t batch, cin, cout, group, ih, iw, k_h, k_w, s_h, s_w, d_h, d_w, pad;
      Form form;  // the form the step must take
    };
    const Shape shapes[] = {
        {1, 32, 32, 32, 25, 5, 3, 3, 1, 1, 1, 1, 1, kPlane},     // DS-CNN's depthwise: loads
        {1, 32, 32, 1, 25, 5, 1, 1, 1, 1, 1, 1, 0, kPlane},      // its pointwise
        {2, 1, 32, 1, 49, 10, 10, 4, 2, 2, 1, 1, 2, kPhases},    // its stem: stride phases
        {1, 64, 64, 1, 8, 8, 3, 3, 1, 1, 1, 1, 1, kPlane},       // ResNet-8's last block
        {1, 32, 64, 1, 16, 16, 3, 3, 2, 2, 1, 1, 1, kPhases},    // its stride-2 3x3 to 8 columns
        {1, 32, 64, 1, 16, 16, 1, 1, 2, 2, 1, 1, 0, kPhases},    // its stride-2 1x1: one phase read
        {2, 8, 16, 1, 15, 15, 3, 3, 2, 2, 2, 1, 1, kPhases},     // dilated rows, odd extents
        {1, 16, 16, 16, 16, 16, 3, 3, 2, 2, 1, 1, 1, kPhases},   // stride-2 depthwise
        {1, 4, 8, 1, 13, 13, 3, 3, 2, 2, 1, 1, 0, kPlane},       // unpadded stride 2: a tap past its phase's 6 columns, gathered
        {1, 2, 3, 1, 5, 400, 1, 3, 1, 50, 1, 1, 1, kPlane},      // column stride 50: 50 phases, gathered instead
        {1, 13, 13, 1, 9, 7, 3, 3, 1, 1, 2, 1, 1, kPlane},       // 8 + 4 + 1 channels, dilated rows
        {1, 3, 20, 1, 11, 20, 3, 3, 1, 1, 1, 1, 1, kPlane},      // 20-wide rows: 16 + 4
        {1, 12, 24, 1, 20, 40, 3, 3, 1, 3, 1, 1, 1, kPhases},    // column stride 3
        {1, 6, 6, 3, 14, 9, 3, 3, 1, 1, 1, 1, 0, kPlane},        // no padding: rows of 7 from 9, gathered
        {1, 12, 8, 1, 28, 28, 1, 1, 1, 1, 1, 1, 0, kPlane},      // a 1x1 on 28-wide rows
        {1, 32, 16, 1, 28, 28, 3, 3, 2, 2, 1, 1, 1, kRows},      // 14 columns at stride 2: the rows
        {1, 16, 16, 1, 32, 32, 3, 3, 1, 1, 1, 1, 1, kPlane},     // full rows: loads still
        {1, 2, 3, 1, 66, 66, 3, 3, 1, 1, 1, 1, 1, kRows},        // 4,356 pixels: the rows
    };
    for (const Shape& sh : shapes) {
      FloatConvCase c;
      c.batch = sh.batch, c.cin = sh.cin, c.cout = sh.cout, c.group = sh.group, c.clamp = sh.cout % 3 == 0 ? 1 : 0;
      AddAxis(c, sh.ih, sh.k_h, sh.s_h, sh.d_h, sh.pad, sh.pad);
      AddAxis(c, sh.iw, sh.k_w, sh.s_w, sh.d_w, sh.pad, sh.pad);
      INFO(Describe(c));
      CHECK(CheckCase(c, rng, tiers) == sh.form);
    }
    FloatConvCase line;  // 1-D: one output row of 9
    line.rank = 1, line.cin = 4, line.cout = 5, line.bias = false;
    AddAxis(line, 11, 3, 1, 1, 0, 0);
    CHECK(CheckCase(line, rng, tiers) == Form::kPlane);
  }
  SECTION("pads wider than the window, strides and dilated reaches wider than the row, 1-wide maps") {
    // ONNX allows pads >= kernel: output rows and columns whose window lies in the padding
    // alone (no input row, every tap masked) are the bias, clamped
    for (int iter = 0; iter < 60; ++iter) {
      FloatConvCase c;
      c.rank = static_cast<int>(pick(1, 3));
      c.batch = pick(1, 3);
      c.group = pick(0, 2) == 0 ? pick(2, 5) : 1;
      c.cin = c.group * pick(1, 3);
      c.cout = c.group * pick(1, 5);
      c.bias = pick(0, 3) != 0;
      c.clamp = static_cast<int>(pick(0, 2));
      for (int d = 0; d < c.rank; ++d) {
        const bool last = d == c.rank - 1;
        const int64_t k = pick(1, last ? 16 : 4), s = pick(1, 12), dl = pick(1, 9);
        const int64_t reach = (k - 1) * dl + 1;
        const int64_t in = pick(0, 3) == 0 ? 1 : pick(1, last ? 40 : 5);
        const int64_t pb = pick(0, 2 * reach + 3);
        const int64_t pe = std::max(pick(0, 2 * reach + 3), reach - in - pb);
        AddAxis(c, in, k, s, dl, pb, pe);
      }
      CheckCase(c, rng, tiers);
    }
  }
}

}  // namespace edge::engine::testing
