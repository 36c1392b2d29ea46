// int8 convs at strides above 2 run as stride-1 convs over their input's stride phases
// (quant_conv.cpp, "phased": phase taps that are zero for every output channel dropped, the
// input read in place or from a padded copy): random geometries, every tier, against the
// conv's definition computed here from the int8 values (padding reads the input zero point;
// the engine's own Requantize is the rounding rule). Strides 1 and 2 and kernels narrower
// than the stride (the im2col path; tap words for 4-wide kernels at column stride 2 and 3-wide
// ones at column stride 2 and row strides above 2) are drawn too, against the same definition.
#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/winograd.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

struct Geometry {
  int64_t batch, cin, cout, group, ih, iw, kh, kw, sh, sw, pt, pl, pb, pr, oh, ow;
  int64_t dh = 1, dw = 1;  // dilations
};

std::string Describe(const Geometry& g) {
  return std::to_string(g.batch) + "x" + std::to_string(g.cin) + "x" + std::to_string(g.ih) + "x" +
         std::to_string(g.iw) + " -> " + std::to_string(g.cout) + " group " + std::to_string(g.group) + " kernel " +
         std::to_string(g.kh) + "x" + std::to_string(g.kw) + " stride " + std::to_string(g.sh) + "x" +
         std::to_string(g.sw) + " pads " + std::to_string(g.pt) + "," + std::to_string(g.pl) + "," +
         std::to_string(g.pb) + "," + std::to_string(g.pr) + " dilations " + std::to_string(g.dh) + "x" +
         std::to_string(g.dw);
}

// One conv of geometry g with random codes, weights, zero points and scales, through the
// engine at every tier, against the definition; which path the step took (its summary).
struct Taken {
  bool phases = false, in_place = false, winograd = false, tap_words = false, strided_views = false,
       compact_views = false;
};

Taken CheckConv(const Geometry& g, int iter, std::mt19937& rng, const std::vector<KernelTier>& tiers) {
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  // which path the engine must take (its step summary says which it took)
  const bool depthwise = g.cin / g.group == 1 && g.cout / g.group == 1;
  const bool undilated = g.dh == 1 && g.dw == 1;
  // kernel rows of 4, 7 or 8 taps at column stride 2, or of 3 taps at row strides above 2: tap words
  // or, at column stride 1, of 2-8 taps where K is at most 3/4 of the implicit GEMM's (1-2 channels)
  const int64_t cin_g4 = (g.cin / g.group + 3) / 4;
  const bool tap_words = !depthwise && undilated &&
                         ((g.sw == 2 && (g.kw == 4 || g.kw == 7 || g.kw == 8 || (g.kw == 3 && g.sh > 2))) ||
                          (g.sw == 1 && g.kw >= 2 && g.kw <= 8 &&
                           4 * (g.cin / g.group) * ((g.kw + 3) / 4) <= 3 * g.kw * cin_g4));
  // (and a stride of 2 along one axis only: (2, 1), (1, 2))
  const bool one_axis_two = (g.sh == 2 && g.sw == 1) || (g.sh == 1 && g.sw == 2);
  const bool phases = !depthwise && !tap_words && undilated && (g.sh > 2 || g.sw > 2 || one_axis_two) &&
                      g.kh >= g.sh && g.kw >= g.sw;
  // Winograd at the avx2 tier (packed where this build has the kernel, x86-64)
  const bool winograd = !depthwise && undilated && g.group == 1 && g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 &&
                        g.cin <= kWinogradMaxChannels && ElementwiseForTier(KernelTier::kAvx2).winograd3x3 != nullptr;
  // stride (2, 2), channels a multiple of 4, more than one tap: views of the interleaved input
  const bool strided_views = !depthwise && !tap_words && !phases && g.sh == 2 && g.sw == 2 &&
                             (g.cin / g.group) % 4 == 0 && g.kh * g.kw > 1;
  // stride 1 (not a pad-free 1x1), at least 32 output channels per group, and a padded-width grid
  // at least 9/8 of the output's width: the implicit GEMM's views copied into compact columns
  const int64_t grid_w = g.iw + std::max({g.pl, g.pr, g.pl + g.pr - g.dw * (g.kw - 1)});
  const bool pointwise = g.kh == 1 && g.kw == 1 && g.pt + g.pl + g.pb + g.pr == 0;
  const bool compact_views = !depthwise && !tap_words && !pointwise && g.sh == 1 && g.sw == 1 &&
                             g.cout / g.group >= 32 && grid_w * 8 >= g.ow * 9;
  // rows as wide as the phase rows, no left padding: the phases read the input in place
  const int64_t phase_w = std::max(g.ow + (g.kw + g.sw - 1) / g.sw - 1, (g.iw + g.sw - 1) / g.sw);
  const bool reads_in_place = phases && g.pl == 0 && phase_w * g.sw == g.iw;
  INFO("iteration " << iter << ": " << Describe(g));

  const int64_t cin_g = g.cin / g.group, cout_g = g.cout / g.group, taps = g.kh * g.kw;
  std::uniform_int_distribution<int> i8(-128, 127), w8(-127, 127), zp(-128, 127);
  std::uniform_real_distribution<float> unit(0.5f, 2.0f);
  const int zx = pick(0, 3) == 0 ? -128 : zp(rng), zy = zp(rng);
  const float sx = 0.02f * unit(rng), sy = 0.05f * unit(rng) * static_cast<float>(cin_g * taps) / 16.0f;
  std::vector<int> xq(static_cast<size_t>(g.batch * g.cin * g.ih * g.iw)), wq(static_cast<size_t>(g.cout * cin_g * taps));
  for (int& v : xq) v = i8(rng);
  for (int& v : wq) v = iter % 50 == 49 ? 0 : w8(rng);  // all zero now and then: no k-group left to drop
  std::vector<float> ws(static_cast<size_t>(g.cout)), bs(static_cast<size_t>(g.cout));
  std::vector<int64_t> bias(static_cast<size_t>(g.cout)), zeros(static_cast<size_t>(g.cout), 0);
  for (int64_t c = 0; c < g.cout; ++c) {
    ws[c] = 0.01f * unit(rng);
    bs[c] = sx * ws[c];
    bias[c] = pick(-3000, 3000);
  }

  Builder b(13);
  b.Input("x", {g.batch, g.cin, g.ih, g.iw});
  b.Init("sx", {}, {sx}).InitI8("zx", {}, {zx}).Init("sy", {}, {sy}).InitI8("zy", {}, {zy});
  b.InitI8("w", {g.cout, cin_g, g.kh, g.kw}, wq).Init("ws", {g.cout}, ws).InitI8("wz", {g.cout}, std::vector<int>(g.cout, 0));
  b.InitInts("bias", {g.cout}, bias, onnx::TensorProto::INT32).Init("bs", {g.cout}, bs);
  b.InitInts("bz", {g.cout}, zeros, onnx::TensorProto::INT32);
  b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
  IntAttr(b.Node("DequantizeLinear", {"w", "ws", "wz"}, {"wd"}), "axis", 0);
  IntAttr(b.Node("DequantizeLinear", {"bias", "bs", "bz"}, {"bd"}), "axis", 0);
  auto* conv = b.Node("Conv", {"xd", "wd", "bd"}, {"y"});
  IntsAttr(conv, "kernel_shape", {g.kh, g.kw});
  IntsAttr(conv, "strides", {g.sh, g.sw});
  IntsAttr(conv, "pads", {g.pt, g.pl, g.pb, g.pr});
  IntsAttr(conv, "dilations", {g.dh, g.dw});
  IntAttr(conv, "group", g.group);
  b.Node("QuantizeLinear", {"y", "sy", "zy"}, {"yq"});
  b.Node("DequantizeLinear", {"yq", "sy", "zy"}, {"out"});
  b.Output("out");
  const auto model = LoadOk(b);
  REQUIRE(model->outputs()[0].elements == g.batch * g.cout * g.oh * g.ow);
  bool took_phases = false, took_in_place = false, took_winograd = false, took_tap_words = false,
       took_views = false, took_compact = false;
  for (const std::string& step : model->StepSummary()) {
    took_phases = took_phases || step.find(", stride phases") != std::string::npos;
    took_in_place = took_in_place || step.find(", stride phases in place") != std::string::npos;
    took_winograd = took_winograd || step.find(", Winograd at avx2") != std::string::npos;
    took_tap_words = took_tap_words || step.find(", tap words") != std::string::npos;
    took_views = took_views || step.find(", stride-2 views") != std::string::npos;
    took_compact = took_compact || step.find(", compact views") != std::string::npos;
  }
  REQUIRE(took_phases == phases);
  REQUIRE(took_in_place == reads_in_place);
  REQUIRE(took_winograd == winograd);
  REQUIRE(took_tap_words == tap_words);
  REQUIRE(took_views == strided_views);
  REQUIRE(took_compact == compact_views);

  // inputs that quantize to exactly xq
  std::vector<float> x(xq.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(xq[i] - zx) * sx;
  std::vector<float> want(static_cast<size_t>(g.batch * g.cout * g.oh * g.ow));
  for (int64_t n = 0; n < g.batch; ++n) {
    for (int64_t co = 0; co < g.cout; ++co) {
      const int64_t grp = co / cout_g;
      const float mult = sx * ws[co] / sy;
      for (int64_t oy = 0; oy < g.oh; ++oy) {
        for (int64_t ox = 0; ox < g.ow; ++ox) {
          int64_t acc = bias[co];
          for (int64_t ci = 0; ci < cin_g; ++ci) {
            for (int64_t ky = 0; ky < g.kh; ++ky) {
              for (int64_t kx = 0; kx < g.kw; ++kx) {
                const int64_t iy = oy * g.sh - g.pt + ky * g.dh, ix = ox * g.sw - g.pl + kx * g.dw;
                if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw) continue;  // the zero point: 0 after - zx
                const int64_t c = grp * cin_g + ci;
                acc += static_cast<int64_t>(wq[((co * cin_g + ci) * g.kh + ky) * g.kw + kx]) *
                       (xq[((n * g.cin + c) * g.ih + iy) * g.iw + ix] - zx);
              }
            }
          }
          const int8_t q = Requantize(static_cast<int32_t>(acc), mult, zy, -128, 127);
          want[((n * g.cout + co) * g.oh + oy) * g.ow + ox] = static_cast<float>(q - zy) * sy;
        }
      }
    }
  }
  for (KernelTier tier : tiers) {
    INFO("tier " << KernelTierName(tier));
    CHECK(RunAll(model, {x}, tier)[0] == want);
  }
  return Taken{took_phases, took_in_place, took_winograd, took_tap_words, took_views, took_compact};
}

}  // namespace

TEST_CASE("int8 convs at strides above 2 equal the conv definition", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261205);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int phased = 0, in_place = 0;
  for (int iter = 0; iter < 200; ++iter) {
    Geometry g{};
    g.batch = pick(1, 2);
    g.group = pick(1, 4) == 1 ? 2 : 1;
    g.cin = g.group * pick(1, 9);
    g.cout = g.group * pick(1, 12);
    g.sh = pick(1, 4);
    g.sw = pick(1, 6) <= 4 ? pick(3, 8) : pick(1, 2);
    g.kh = pick(1, 6);
    g.kw = pick(1, 5) == 1 ? pick(1, g.sw) : pick(g.sw, g.sw + 3);
    g.pt = pick(0, g.kh - 1);
    g.pb = pick(0, g.kh - 1);
    g.pl = pick(0, g.kw - 1);
    g.pr = pick(0, g.kw - 1);
    g.ih = pick(std::max<int64_t>(1, g.kh - g.pt - g.pb), 26);
    g.iw = pick(std::max<int64_t>(1, g.kw - g.pl - g.pr), 40);
    // whole phase rows more often
    if (pick(0, 2) == 0 && g.iw / g.sw * g.sw >= std::max<int64_t>(1, g.kw - g.pl - g.pr)) g.iw = g.iw / g.sw * g.sw;
    g.oh = (g.ih + g.pt + g.pb - g.kh) / g.sh + 1;
    g.ow = (g.iw + g.pl + g.pr - g.kw) / g.sw + 1;
    const Taken taken = CheckConv(g, iter, rng, tiers);
    phased += taken.phases;
    in_place += taken.in_place;

  }
  CHECK(phased >= 60);
  CHECK(in_place >= 5);
}

// The convs the AVX2 tier runs by Winograd F(2x2, 3x3): batches, maps down to one output
// pixel, pads up to 20 (the padded copy's other fill path), 128 input channels (the limit) and
// 129 (the GEMM again), a folded Relu's clamp via the output zero point's range.
TEST_CASE("3x3 stride-1 convs (Winograd at the avx2 tier) equal the conv definition", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(1009);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int winograd = 0;
  for (int iter = 0; iter < 40; ++iter) {
    Geometry g{};
    g.batch = pick(1, 3);
    g.group = 1;
    g.cin = iter % 10 == 3 ? 128 : iter % 10 == 7 ? 129 : pick(1, 40);
    g.cout = pick(1, 14);
    g.kh = g.kw = 3;
    g.sh = g.sw = 1;
    const bool wide = iter % 5 == 0;
    g.pt = pick(0, 2);
    g.pb = pick(0, 2);
    g.pl = wide ? pick(15, 20) : pick(0, 2);
    g.pr = wide ? pick(15, 20) : pick(0, 2);
    g.ih = pick(std::max<int64_t>(1, 3 - g.pt - g.pb), 20);
    g.iw = pick(std::max<int64_t>(1, 3 - g.pl - g.pr), 24);
    g.oh = g.ih + g.pt + g.pb - 2;
    g.ow = g.iw + g.pl + g.pr - 2;
    INFO("iteration " << iter << ": " << Describe(g));
    winograd += CheckConv(g, iter, rng, tiers).winograd;
  }
  if (ElementwiseForTier(KernelTier::kAvx2).winograd3x3 != nullptr) CHECK(winograd >= 30);
}

// Convs that take tap words: one input channel per group with kernel rows of 4 taps (DS-CNN's
// 10x4 stem), kernel heights 1-11 at row strides 1-4 (rows of words shared by several kernel
// rows, or row phases no kernel row reads); then several channels per group with 4-tap rows at
// row strides 1-4 and 3-tap rows (a zero weight in each word) at row strides 3-5 (odd_strides'
// 5x3 stride-(3, 2) stem); 7- and 8-tap rows (two words each) with one or several channels.
// Pads on every side, groups, batches, maps of a single output row or column.
TEST_CASE("convs with 3- and 4-tap rows at column stride 2 (tap words) equal the conv definition",
          "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261206);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int tap_words = 0;
  for (int iter = 0; iter < 120; ++iter) {
    const bool one_channel = iter < 60;
    Geometry g{};
    g.batch = pick(1, 3) == 1 ? 2 : 1;
    g.group = pick(1, 3) == 1 ? pick(2, 3) : 1;
    g.cin = g.group * (one_channel ? 1 : pick(2, 6));
    g.cout = g.group * pick(one_channel ? 2 : 1, 13);  // one channel in and out is depthwise
    // 3-tap rows at row strides 3-5; 7- and 8-tap rows (two words a row, a grid of the output
    // row plus 2 words: ResNet's 7x7 stride-2 stem) a third of the time
    g.kw = iter % 3 == 1 ? 7 + pick(0, 1) : one_channel || iter % 2 == 0 ? 4 : 3;
    g.sh = g.kw == 3 ? pick(3, 5) : pick(1, 4);
    g.kh = g.kw >= 7 ? pick(1, 8) : pick(1, one_channel ? 11 : 7);
    g.sw = 2;
    g.pt = pick(0, std::min<int64_t>(g.kh - 1, 5));
    g.pb = pick(0, std::min<int64_t>(g.kh - 1, 5));
    g.pl = pick(0, g.kw >= 7 ? 4 : 3);
    g.pr = pick(0, g.kw >= 7 ? 4 : 3);
    g.ih = pick(std::max<int64_t>(1, g.kh - g.pt - g.pb), 50);
    g.iw = pick(std::max<int64_t>(1, g.kw - g.pl - g.pr), 50);
    g.oh = (g.ih + g.pt + g.pb - g.kh) / g.sh + 1;
    g.ow = (g.iw + g.pl + g.pr - g.kw) / g.sw + 1;
    tap_words += CheckConv(g, iter, rng, tiers).tap_words;
  }
  CHECK(tap_words == 120);
}

// Stride-(2, 2) convs with input channels a multiple of 4 (ResNet's and YOLO's 3x3
// downsampling convs): the interleaved input's k-group views gathered at stride 2. Output rows
// of 1-40 words (the AVX-512 form's two 8-wide rows per vector, its 16-word vectors and masked
// tails, the 128-bit form's 4-word steps and word tail), kernels 1x2 to 5x5, dilations 2-3 a
// quarter of the time, pads wider on either side, groups, batches. 1x1 kernels keep the im2col
// (checked too).
TEST_CASE("int8 convs at stride (2, 2) on 4k channels (stride-2 views) equal the conv definition",
          "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261207);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int views = 0;
  for (int iter = 0; iter < 100; ++iter) {
    Geometry g{};
    g.batch = pick(1, 4) == 1 ? 2 : 1;
    g.group = pick(1, 4) == 1 ? 2 : 1;
    g.cin = g.group * 4 * pick(1, 5);
    g.cout = g.group * pick(1, 20);
    g.sh = g.sw = 2;
    g.kh = iter % 20 == 0 ? 1 : pick(1, 5);
    g.kw = iter % 20 == 0 ? 1 : pick(g.kh == 1 ? 2 : 1, 5);
    if (g.kw == 4) g.kw = 5;  // (4-wide rows at column stride 2 are tap words)
    if (iter % 4 == 3) {  // dilated a quarter of the time (the views' offsets)
      g.dh = pick(1, 3);
      g.dw = pick(2, 3);
    }
    const int64_t span_h = g.dh * (g.kh - 1) + 1, span_w = g.dw * (g.kw - 1) + 1;
    g.pt = pick(0, span_h - 1);
    g.pb = pick(0, span_h - 1);
    g.pl = pick(0, span_w - 1);
    g.pr = pick(0, span_w - 1);
    // output widths 8 and 16 (the vector forms' own cases) a third of the time each
    const int64_t ow = iter % 3 == 0 ? 8 : iter % 3 == 1 ? 16 : pick(1, 40);
    g.iw = std::max<int64_t>(1, (ow - 1) * 2 + span_w - g.pl - g.pr + pick(0, 1));
    g.ih = pick(std::max<int64_t>(1, span_h - g.pt - g.pb), 20);
    g.oh = (g.ih + g.pt + g.pb - span_h) / g.sh + 1;
    g.ow = (g.iw + g.pl + g.pr - span_w) / g.sw + 1;
    if (g.ow < 1 || g.oh < 1) continue;
    views += CheckConv(g, iter, rng, tiers).strided_views;
  }
  CHECK(views >= 80);
}

// Convs at column stride 1 with one or two input channels per group and kernel rows of 2-8 taps
// take tap words (ESPCN's 5x5 1 -> 32, 1-D sensor convs' 1x7 on one channel, a KWS stem's 5x5
// at stride (2, 1)): output ox's word is bytes ox .. ox + 3 of the row, 5-8 taps two words.
// Row strides 1-3, kernels 1-7 high, pads on every side, groups, batches, maps down to one
// output column; 3x3 stride 1 on 1-2 channels is also the avx2 tier's Winograd form.
TEST_CASE("convs at column stride 1 on one or two channels (tap words) equal the conv definition",
          "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261208);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int tap_words = 0;
  for (int iter = 0; iter < 80; ++iter) {
    Geometry g{};
    g.batch = pick(1, 4) == 1 ? 2 : 1;
    g.group = pick(1, 4) == 1 ? 2 : 1;
    g.cin = g.group * pick(1, 2);
    g.cout = g.group * pick(g.cin == g.group ? 2 : 1, 20);  // (one channel in and out is depthwise)
    g.sh = iter % 3 == 0 ? pick(2, 3) : 1;
    g.sw = 1;
    g.kw = pick(2, 8);
    g.kh = pick(1, 7);
    g.pt = pick(0, g.kh - 1);
    g.pb = pick(0, g.kh - 1);
    g.pl = pick(0, g.kw - 1);
    g.pr = pick(0, g.kw - 1);
    g.ih = pick(std::max<int64_t>(1, g.kh - g.pt - g.pb), 24);
    g.iw = pick(std::max<int64_t>(1, g.kw - g.pl - g.pr), 40);
    g.oh = (g.ih + g.pt + g.pb - g.kh) / g.sh + 1;
    g.ow = g.iw + g.pl + g.pr - g.kw + 1;
    tap_words += CheckConv(g, iter, rng, tiers).tap_words;
  }
  CHECK(tap_words >= 60);
}

// Stride-1 convs with 32 or more output channels per group on narrow maps (a padded-width grid
// at least 9/8 of the output's width, ResNet-8's 3x3 on 8 x 8): the implicit GEMM's views
// copied into compact columns. Kernels 1x2 to 5x5 (1x1 only with pads), dilation 2 a quarter of
// the time, any channel count (blocks of 4 with zero channels), pads wider on either side,
// groups, batches, inputs of 1-8
// columns; a third at 31 channels (the grid, checked as such).
TEST_CASE("stride-1 convs on narrow maps (compact views) equal the conv definition", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261209);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  int compact = 0;
  for (int iter = 0; iter < 45; ++iter) {
    Geometry g{};
    g.batch = pick(1, 4) == 1 ? 2 : 1;
    g.group = pick(1, 5) == 1 ? 2 : 1;
    g.cin = g.group * pick(3, 20);
    g.cout = g.group * (iter % 3 == 2 ? 31 : pick(32, 40));
    g.sh = g.sw = 1;
    g.kh = pick(1, 5);
    g.kw = pick(g.kh == 1 ? 2 : 1, 5);
    if (iter % 4 == 3) g.dh = g.dw = 2;  // dilated a quarter of the time
    const int64_t span_h = g.dh * (g.kh - 1) + 1, span_w = g.dw * (g.kw - 1) + 1;
    g.pt = pick(0, span_h);
    g.pb = pick(0, span_h);
    g.pl = pick(0, span_w);
    g.pr = pick(0, span_w);
    g.iw = pick(std::max<int64_t>(1, span_w - g.pl - g.pr), 8);
    g.ih = pick(std::max<int64_t>(1, span_h - g.pt - g.pb), 10);
    g.oh = g.ih + g.pt + g.pb - span_h + 1;
    g.ow = g.iw + g.pl + g.pr - span_w + 1;
    compact += CheckConv(g, iter, rng, tiers).compact_views;
  }
  CHECK(compact >= 15);
}

}  // namespace edge::engine::testing
