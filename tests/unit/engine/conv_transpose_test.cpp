// int8 ConvTranspose (lower_conv_gemm.cpp, TryQuantConvTranspose): an int8 Conv over the
// stride phases plus an interleave, checked here against ConvTranspose's definition computed
// from the int8 values (every input element times its weights where they land, the engine's own
// Requantize as the rounding rule) for random geometries at every tier; where it does not apply
// (dilations, a begin pad past the phases' taps), the float form runs. The quantizer's side is
// in quantizer_math_test.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/kernels/qgemm.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

struct TransposeCase {
  int64_t batch = 1, cin = 1, cout = 1, group = 1, ih = 1, iw = 1, kh = 1, kw = 1, sh = 1, sw = 1;
  int64_t dh = 1, dw = 1;
  int64_t pt = 0, pl = 0, pb = 0, pr = 0, oph = 0, opw = 0;
  bool one_d = false;
  bool per_channel = true;  // weight scales per output channel (axis 1), else one
  bool int_bias = true;     // an int32 bias in the accumulator scale, else a float one
  bool relu = false;        // a Relu between ConvTranspose and QuantizeLinear
  bool output_shape = false;  // the size given as output_shape (oh, ow) instead of pads
  std::string auto_pad;       // SAME_UPPER / SAME_LOWER instead of pads
  int64_t oh = 0, ow = 0;     // set by Sizes()
};

std::string DescribeTranspose(const TransposeCase& c) {
  return std::to_string(c.batch) + "x" + std::to_string(c.cin) + "x" + std::to_string(c.ih) + "x" + std::to_string(c.iw) +
         " -> " + std::to_string(c.cout) + " group " + std::to_string(c.group) + " kernel " + std::to_string(c.kh) + "x" +
         std::to_string(c.kw) + " stride " + std::to_string(c.sh) + "x" + std::to_string(c.sw) + " dilation " +
         std::to_string(c.dh) + "x" + std::to_string(c.dw) + " pads " + std::to_string(c.pt) + "," + std::to_string(c.pl) +
         "," + std::to_string(c.pb) + "," + std::to_string(c.pr) + " output_padding " + std::to_string(c.oph) + "," +
         std::to_string(c.opw) + (c.one_d ? " 1-D" : "") + (c.per_channel ? "" : " per-tensor") +
         (c.int_bias ? "" : " float bias") + (c.relu ? " relu" : "") + (c.output_shape ? " output_shape" : "") +
         (c.auto_pad.empty() ? "" : " " + c.auto_pad);
}

// The output size from pads and output_padding; with output_shape, the begin pad that ONNX's
// split of (full - size) gives (rounding down, nothing when the output is larger); with SAME_*,
// the input size times the stride, the begin pad the floor of half the difference (UPPER) or
// the rest (LOWER), negative where the kernel is shorter than the stride.
void Sizes(TransposeCase& c) {
  const int64_t full_h = c.sh * (c.ih - 1) + c.oph + (c.kh - 1) * c.dh + 1;
  const int64_t full_w = c.sw * (c.iw - 1) + c.opw + (c.kw - 1) * c.dw + 1;
  if (!c.auto_pad.empty()) {
    auto begin = [&](int64_t total) {
      const int64_t half = FloorDiv(total, 2);
      return c.auto_pad == "SAME_UPPER" ? half : total - half;
    };
    c.oh = c.ih * c.sh;
    c.ow = c.iw * c.sw;
    c.pt = begin(full_h - c.oh);
    c.pl = begin(full_w - c.ow);
    return;
  }
  if (!c.output_shape) {
    c.oh = full_h - c.pt - c.pb;
    c.ow = full_w - c.pl - c.pr;
    return;
  }
  auto begin = [](int64_t total) { return total < 0 ? 0 : total - total / 2; };
  c.pt = begin(full_h - c.oh);
  c.pl = begin(full_w - c.ow);
}

// One int8 ConvTranspose of case c with random codes, weights, zero points and scales, through
// the engine at every tier, against the definition. Returns whether the int8 form ran.
bool CheckTranspose(TransposeCase c, int iter, std::mt19937& rng, const std::vector<KernelTier>& tiers) {
  if (c.one_d) c.ih = c.kh = c.sh = c.dh = c.oh = 1, c.pt = c.pb = c.oph = 0;
  Sizes(c);
  INFO("iteration " << iter << ": " << DescribeTranspose(c) << " -> " << c.oh << "x" << c.ow);
  REQUIRE(c.oh > 0);
  REQUIRE(c.ow > 0);
  const int64_t cin_g = c.cin / c.group, cout_g = c.cout / c.group, taps = c.kh * c.kw;
  std::uniform_int_distribution<int> i8(-128, 127), w8(-127, 127), zp(-128, 127), bias_code(-4000, 4000);
  std::uniform_real_distribution<float> unit(0.5f, 2.0f);
  const int zx = zp(rng), zy = zp(rng);
  const float sx = 0.02f * unit(rng);
  // outputs sum about cin_g x taps / (stride area) products
  const float sy = 0.05f * unit(rng) * static_cast<float>(std::max<int64_t>(1, cin_g * taps / (c.sh * c.sw))) / 16.0f;
  std::vector<int> xq(static_cast<size_t>(c.batch * c.cin * c.ih * c.iw)), wq(static_cast<size_t>(c.cin * cout_g * taps));
  for (int& v : xq) v = i8(rng);
  for (int& v : wq) v = w8(rng);
  const int64_t scales = c.per_channel ? cout_g : 1;
  std::vector<float> ws(static_cast<size_t>(scales)), bias_f(static_cast<size_t>(c.cout)), bias_s(static_cast<size_t>(c.cout));
  std::vector<int64_t> bias_q(static_cast<size_t>(c.cout)), zeros(static_cast<size_t>(c.cout), 0);
  for (float& s : ws) s = 0.01f * unit(rng);
  for (int64_t co = 0; co < c.cout; ++co) {
    const float acc_scale = sx * ws[static_cast<size_t>(c.per_channel ? co % cout_g : 0)];
    bias_s[co] = acc_scale;
    bias_q[co] = bias_code(rng);
    bias_f[co] = static_cast<float>(bias_q[co]) * acc_scale * unit(rng);  // not a whole number of steps
  }

  const std::vector<int64_t> xs = c.one_d ? std::vector<int64_t>{c.batch, c.cin, c.iw}
                                          : std::vector<int64_t>{c.batch, c.cin, c.ih, c.iw};
  const std::vector<int64_t> wshape = c.one_d ? std::vector<int64_t>{c.cin, cout_g, c.kw}
                                              : std::vector<int64_t>{c.cin, cout_g, c.kh, c.kw};
  auto pair = [&](int64_t h, int64_t w) { return c.one_d ? std::vector<int64_t>{w} : std::vector<int64_t>{h, w}; };
  Builder b(13);
  b.Input("x", xs);
  b.Init("sx", {}, {sx}).InitI8("zx", {}, {zx}).Init("sy", {}, {0.0f + sy}).InitI8("zy", {}, {zy});
  b.InitI8("w", wshape, wq).InitI8("wz", {scales}, std::vector<int>(static_cast<size_t>(scales), 0));
  if (c.per_channel) {
    b.Init("ws", {scales}, ws);
  } else {
    b.Init("ws", {}, {ws[0]});
    b.InitI8("wz0", {}, {0});
  }
  b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
  if (c.per_channel) {
    IntAttr(b.Node("DequantizeLinear", {"w", "ws", "wz"}, {"wd"}), "axis", 1);
  } else {
    b.Node("DequantizeLinear", {"w", "ws", "wz0"}, {"wd"});
  }
  if (c.int_bias) {
    b.InitInts("bias", {c.cout}, bias_q, onnx::TensorProto::INT32).Init("bs", {c.cout}, bias_s);
    b.InitInts("bz", {c.cout}, zeros, onnx::TensorProto::INT32);
    IntAttr(b.Node("DequantizeLinear", {"bias", "bs", "bz"}, {"bd"}), "axis", 0);
  } else {
    b.Init("bd", {c.cout}, bias_f);
  }
  auto* ct = b.Node("ConvTranspose", {"xd", "wd", "bd"}, {c.relu ? "y" : "z"});
  IntsAttr(ct, "kernel_shape", pair(c.kh, c.kw));
  IntsAttr(ct, "strides", pair(c.sh, c.sw));
  IntsAttr(ct, "dilations", pair(c.dh, c.dw));
  IntsAttr(ct, "output_padding", pair(c.oph, c.opw));
  IntAttr(ct, "group", c.group);
  if (!c.auto_pad.empty()) {
    StrAttr(ct, "auto_pad", c.auto_pad);
  } else if (c.output_shape) {
    IntsAttr(ct, "output_shape", pair(c.oh, c.ow));
  } else {
    IntsAttr(ct, "pads", c.one_d ? std::vector<int64_t>{c.pl, c.pr} : std::vector<int64_t>{c.pt, c.pl, c.pb, c.pr});
  }
  if (c.relu) b.Node("Relu", {"y"}, {"z"});
  b.Node("QuantizeLinear", {"z", "sy", "zy"}, {"zq"});
  b.Node("DequantizeLinear", {"zq", "sy", "zy"}, {"out"});
  b.Output("out");
  const auto model = LoadOk(b);
  REQUIRE(model->outputs()[0].elements == c.batch * c.cout * c.oh * c.ow);
  bool int8 = false;
  for (const std::string& step : model->StepSummary()) int8 = int8 || step.find("(int8, phases interleaved)") != std::string::npos;

  // inputs that quantize to exactly xq
  std::vector<float> x(xq.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(xq[i] - zx) * sx;
  std::vector<float> want(static_cast<size_t>(c.batch * c.cout * c.oh * c.ow));
  const int32_t qmin = c.relu ? std::max(zy, -128) : -128;
  for (int64_t n = 0; n < c.batch; ++n) {
    for (int64_t co = 0; co < c.cout; ++co) {
      const int64_t grp = co / cout_g, j = co % cout_g;
      const float ws_c = ws[static_cast<size_t>(c.per_channel ? j : 0)];
      const float acc_scale = sx * ws_c;
      const int64_t bias = c.int_bias ? bias_q[co] : static_cast<int64_t>(std::nearbyint(double(bias_f[co]) / acc_scale));
      const float mult = acc_scale / sy;
      for (int64_t oy = 0; oy < c.oh; ++oy) {
        for (int64_t ox = 0; ox < c.ow; ++ox) {
          int64_t acc = bias;
          for (int64_t ci = grp * cin_g; ci < (grp + 1) * cin_g; ++ci) {
            for (int64_t iy = 0; iy < c.ih; ++iy) {
              for (int64_t ky = 0; ky < c.kh; ++ky) {
                if (iy * c.sh - c.pt + ky * c.dh != oy) continue;
                for (int64_t ix = 0; ix < c.iw; ++ix) {
                  for (int64_t kx = 0; kx < c.kw; ++kx) {
                    if (ix * c.sw - c.pl + kx * c.dw != ox) continue;
                    acc += static_cast<int64_t>(wq[static_cast<size_t>(((ci * cout_g + j) * c.kh + ky) * c.kw + kx)]) *
                           (xq[static_cast<size_t>(((n * c.cin + ci) * c.ih + iy) * c.iw + ix)] - zx);
                  }
                }
              }
            }
          }
          const int8_t q = Requantize(static_cast<int32_t>(acc), mult, zy, qmin, 127);
          want[static_cast<size_t>(((n * c.cout + co) * c.oh + oy) * c.ow + ox)] = static_cast<float>(q - zy) * sy;
        }
      }
    }
  }
  for (KernelTier tier : tiers) {
    INFO("tier " << KernelTierName(tier));
    const auto got = RunAll(model, {x}, tier)[0];
    if (int8) {
      CHECK(got == want);
    } else {
      // the float form rounds the float sum: at most one step from the integer definition
      REQUIRE(got.size() == want.size());
      for (size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= sy * 1.01f);
    }
  }
  return int8;
}

}  // namespace

TEST_CASE("int8 ConvTranspose equals its definition", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261207);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  SECTION("the shapes decoders use") {
    TransposeCase unet;  // U-Net's 2x2/2
    unet.cin = 16, unet.cout = 8, unet.ih = 10, unet.iw = 12, unet.kh = unet.kw = 2, unet.sh = unet.sw = 2;
    CHECK(CheckTranspose(unet, 0, rng, tiers));
    TransposeCase dcgan = unet;  // 4x4/2 pad 1 (DCGAN, FCN)
    dcgan.kh = dcgan.kw = 4, dcgan.pt = dcgan.pl = dcgan.pb = dcgan.pr = 1, dcgan.relu = true;
    CHECK(CheckTranspose(dcgan, 1, rng, tiers));
    TransposeCase same3 = unet;  // 3x3/2 pad 1 output_padding 1: exactly twice the input
    same3.kh = same3.kw = 3, same3.pt = same3.pl = same3.pb = same3.pr = 1, same3.oph = same3.opw = 1;
    same3.batch = 2, same3.int_bias = false;
    CHECK(CheckTranspose(same3, 2, rng, tiers));
    TransposeCase wide = unet;  // 40 wide: the interleave's 32-byte vectors and its tail
    wide.iw = 20, wide.ih = 3, wide.cin = 4, wide.per_channel = false;
    CHECK(CheckTranspose(wide, 3, rng, tiers));
    TransposeCase wide_odd = wide;  // 41 wide: the interleave's last step from an even output, one left
    wide_odd.opw = 1, wide_odd.iw = 20;
    CHECK(CheckTranspose(wide_odd, 5, rng, tiers));
    TransposeCase audio;  // 1-D upsampling by 4 (a vocoder's), groups
    audio.one_d = true, audio.cin = 8, audio.cout = 4, audio.group = 2, audio.iw = 25, audio.kw = 8, audio.sw = 4;
    audio.pl = audio.pr = 2;
    CHECK(CheckTranspose(audio, 4, rng, tiers));
  }
  SECTION("random geometries") {
    int int8 = 0;
    for (int iter = 0; iter < 150; ++iter) {
      TransposeCase c;
      c.batch = pick(1, 2);
      c.group = pick(1, 4) == 1 ? pick(2, 3) : 1;
      c.cin = c.group * pick(1, 6);
      c.cout = c.group * pick(1, 5);
      c.one_d = pick(0, 4) == 0;
      c.sh = pick(1, 4);
      c.sw = pick(1, 4);
      c.kh = pick(1, 5);
      c.kw = pick(1, 5);
      c.ih = pick(1, 9);
      c.iw = pick(1, 21);
      c.oph = pick(0, c.sh - 1);
      c.opw = pick(0, c.sw - 1);
      c.pt = pick(0, c.kh - 1);
      c.pb = pick(0, c.kh - 1);
      c.pl = pick(0, c.kw - 1);
      c.pr = pick(0, c.kw - 1);
      c.per_channel = pick(0, 3) != 0;
      c.int_bias = pick(0, 1) == 0;
      c.relu = pick(0, 3) == 0;
      if (pick(0, 4) == 0) {  // the size from output_shape: up to a few past the full output
        c.output_shape = true;
        c.oh = c.sh * (c.ih - 1) + c.kh + pick(-c.kh + 1, 3);
        c.ow = c.sw * (c.iw - 1) + c.kw + pick(-c.kw + 1, 3);
        c.oph = c.opw = 0;
      }
      // an output no longer empty after the pads
      if (c.sh * (c.ih - 1) + c.oph + c.kh - c.pt - c.pb <= 0) c.pt = c.pb = 0;
      if (c.sw * (c.iw - 1) + c.opw + c.kw - c.pl - c.pr <= 0) c.pl = c.pr = 0;
      // undilated, begin pads below the kernel: the int8 form unless the stride leaves phases
      // without taps (more than 4x the kernel's taps in the phase conv)
      const int64_t phase_taps = c.one_d ? c.sw * ((c.kw + c.sw - 1) / c.sw)
                                         : c.sh * c.sw * ((c.kh + c.sh - 1) / c.sh) * ((c.kw + c.sw - 1) / c.sw);
      const bool expected = phase_taps <= 4 * (c.one_d ? 1 : c.kh) * c.kw;
      CHECK(CheckTranspose(c, iter, rng, tiers) == expected);
      int8 += expected;
    }
    CHECK(int8 >= 120);
  }
  SECTION("SAME_UPPER and SAME_LOWER, kernels shorter than the stride too (a negative begin pad)") {
    for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
      for (int iter = 0; iter < 30; ++iter) {
        TransposeCase c;
        c.auto_pad = mode;
        c.one_d = iter % 5 == 0;
        c.cin = pick(1, 4);
        c.cout = pick(1, 4);
        c.sh = pick(1, 4);
        c.sw = pick(1, 4);
        c.kh = pick(1, 5);
        c.kw = iter % 3 == 0 ? pick(1, c.sw) : pick(1, 6);
        c.ih = pick(1, 6);
        c.iw = pick(1, 12);
        CHECK(CheckTranspose(c, iter, rng, tiers) == (c.one_d || c.sh * c.sw * ((c.kh + c.sh - 1) / c.sh) *
                                                                               ((c.kw + c.sw - 1) / c.sw) <=
                                                                       4 * c.kh * c.kw));
      }
    }
  }
  SECTION("a stride far past the kernel (phases without taps): the float form") {
    TransposeCase c;
    c.cin = 4, c.cout = 4, c.ih = 3, c.iw = 3, c.kh = c.kw = 1, c.sh = c.sw = 64;
    CHECK_FALSE(CheckTranspose(c, 0, rng, tiers));
  }
  SECTION("dilated: the float form, within a step of the definition") {
    TransposeCase c;
    c.cin = 4, c.cout = 3, c.ih = 5, c.iw = 6, c.kh = c.kw = 3, c.sh = c.sw = 2, c.dh = 2, c.dw = 1;
    CHECK_FALSE(CheckTranspose(c, 0, rng, tiers));
  }
  SECTION("a begin pad past the phases' taps: the float form") {
    TransposeCase c;
    c.cin = 2, c.cout = 2, c.ih = 6, c.iw = 7, c.kh = c.kw = 2, c.sh = c.sw = 2, c.pt = c.pl = 2;
    CHECK_FALSE(CheckTranspose(c, 0, rng, tiers));
  }
}

}  // namespace edge::engine::testing
