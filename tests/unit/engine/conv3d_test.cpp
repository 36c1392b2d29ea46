// int8 Conv3d (lower_conv_gemm.cpp, EmitQuantConv3d): a gather of the depth windows and one 2-D
// int8 Conv whose input channels are the depth taps, checked against Conv3d's definition
// computed on the int8 values (integer sums, the engine's Requantize as the rounding rule) for
// random geometries at every tier; grouped ones run in float.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/qgemm.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

struct Conv3dCase {
  int64_t batch = 1, cin = 1, cout = 1, group = 1;
  int64_t in[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1}, d[3] = {1, 1, 1}, pb[3] = {0, 0, 0}, pe[3] = {0, 0, 0};
  bool relu = false;
};

std::string Describe(const Conv3dCase& c) {
  auto three = [](const int64_t* v) {
    return std::to_string(v[0]) + "," + std::to_string(v[1]) + "," + std::to_string(v[2]);
  };
  return std::to_string(c.batch) + "x" + std::to_string(c.cin) + "x[" + three(c.in) + "] -> " + std::to_string(c.cout) +
         " group " + std::to_string(c.group) + " kernel " + three(c.k) + " strides " + three(c.s) + " dilations " +
         three(c.d) + " pads " + three(c.pb) + " / " + three(c.pe) + (c.relu ? " relu" : "");
}

// True when the model ran the int8 form.
bool CheckConv3d(const Conv3dCase& c, std::mt19937& rng, const std::vector<KernelTier>& tiers) {
  INFO(Describe(c));
  int64_t out[3];
  for (int a = 0; a < 3; ++a) out[a] = (c.in[a] + c.pb[a] + c.pe[a] - (c.k[a] - 1) * c.d[a] - 1) / c.s[a] + 1;
  REQUIRE(out[0] > 0);
  REQUIRE(out[1] > 0);
  REQUIRE(out[2] > 0);
  const int64_t cin_g = c.cin / c.group, cout_g = c.cout / c.group, taps = c.k[0] * c.k[1] * c.k[2];
  std::uniform_int_distribution<int> i8(-128, 127), w8(-127, 127), zp(-128, 127), bias_code(-3000, 3000);
  std::uniform_real_distribution<float> unit(0.5f, 2.0f);
  const int zx = zp(rng), zy = zp(rng);
  const float sx = 0.02f * unit(rng);
  const float sy = 0.04f * unit(rng) * static_cast<float>(std::max<int64_t>(1, cin_g * taps)) / 16.0f;
  const int64_t in_count = c.batch * c.cin * c.in[0] * c.in[1] * c.in[2];
  std::vector<int> xq(static_cast<size_t>(in_count)), wq(static_cast<size_t>(c.cout * cin_g * taps));
  for (int& v : xq) v = i8(rng);
  for (int& v : wq) v = w8(rng);
  std::vector<float> ws(static_cast<size_t>(c.cout)), bs(static_cast<size_t>(c.cout));
  std::vector<int64_t> bias_q(static_cast<size_t>(c.cout)), zeros(static_cast<size_t>(c.cout), 0);
  for (int64_t co = 0; co < c.cout; ++co) {
    ws[co] = 0.01f * unit(rng);
    bs[co] = sx * ws[co];
    bias_q[co] = bias_code(rng);
  }
  Builder b(13);
  b.Input("x", {c.batch, c.cin, c.in[0], c.in[1], c.in[2]});
  b.Init("sx", {}, {sx}).InitI8("zx", {}, {zx}).Init("sy", {}, {0.0f + sy}).InitI8("zy", {}, {zy});
  b.InitI8("w", {c.cout, cin_g, c.k[0], c.k[1], c.k[2]}, wq).Init("ws", {c.cout}, ws);
  b.InitI8("wz", {c.cout}, std::vector<int>(static_cast<size_t>(c.cout), 0));
  b.InitInts("bias", {c.cout}, bias_q, onnx::TensorProto::INT32).Init("bs", {c.cout}, bs);
  b.InitInts("bz", {c.cout}, zeros, onnx::TensorProto::INT32);
  b.Node("QuantizeLinear", {"x", "sx", "zx"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "sx", "zx"}, {"xd"});
  IntAttr(b.Node("DequantizeLinear", {"w", "ws", "wz"}, {"wd"}), "axis", 0);
  IntAttr(b.Node("DequantizeLinear", {"bias", "bs", "bz"}, {"bd"}), "axis", 0);
  auto* conv = b.Node("Conv", {"xd", "wd", "bd"}, {c.relu ? "y" : "z"});
  IntsAttr(conv, "kernel_shape", {c.k[0], c.k[1], c.k[2]});
  IntsAttr(conv, "strides", {c.s[0], c.s[1], c.s[2]});
  IntsAttr(conv, "dilations", {c.d[0], c.d[1], c.d[2]});
  IntsAttr(conv, "pads", {c.pb[0], c.pb[1], c.pb[2], c.pe[0], c.pe[1], c.pe[2]});
  IntAttr(conv, "group", c.group);
  if (c.relu) b.Node("Relu", {"y"}, {"z"});
  b.Node("QuantizeLinear", {"z", "sy", "zy"}, {"zq"});
  b.Node("DequantizeLinear", {"zq", "sy", "zy"}, {"out"});
  b.Output("out");
  const auto model = LoadOk(b);
  const bool int8 = HasStep(*model, "QConv");

  std::vector<float> x(xq.size());
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(xq[i] - zx) * sx;
  const int64_t out_plane = out[0] * out[1] * out[2];
  std::vector<float> want(static_cast<size_t>(c.batch * c.cout * out_plane));
  const int32_t qmin = c.relu ? std::max(zy, -128) : -128;
  for (int64_t n = 0; n < c.batch; ++n) {
    for (int64_t co = 0; co < c.cout; ++co) {
      const int64_t g = co / cout_g;
      const float mult = sx * ws[co] / sy;
      for (int64_t o = 0; o < out_plane; ++o) {
        const int64_t oz = o / (out[1] * out[2]), oy = (o / out[2]) % out[1], ox = o % out[2];
        int64_t acc = bias_q[co];
        for (int64_t ci = 0; ci < cin_g; ++ci) {
          for (int64_t t = 0; t < taps; ++t) {
            const int64_t kz = t / (c.k[1] * c.k[2]), ky = (t / c.k[2]) % c.k[1], kx = t % c.k[2];
            const int64_t iz = oz * c.s[0] - c.pb[0] + kz * c.d[0], iy = oy * c.s[1] - c.pb[1] + ky * c.d[1],
                          ix = ox * c.s[2] - c.pb[2] + kx * c.d[2];
            if (iz < 0 || iz >= c.in[0] || iy < 0 || iy >= c.in[1] || ix < 0 || ix >= c.in[2]) continue;
            const int64_t at = (((n * c.cin + g * cin_g + ci) * c.in[0] + iz) * c.in[1] + iy) * c.in[2] + ix;
            acc += static_cast<int64_t>(wq[static_cast<size_t>((co * cin_g + ci) * taps + t)]) * (xq[at] - zx);
          }
        }
        const int8_t q = Requantize(static_cast<int32_t>(acc), mult, zy, qmin, 127);
        want[static_cast<size_t>((n * c.cout + co) * out_plane + o)] = static_cast<float>(q - zy) * sy;
      }
    }
  }
  for (KernelTier tier : tiers) {
    INFO("tier " << KernelTierName(tier));
    const auto got = RunAll(model, {x}, tier)[0];
    REQUIRE(got.size() == want.size());
    if (int8) {
      CHECK(got == want);
    } else {
      // the float form rounds the float sum: at most one step from the integer definition
      for (size_t i = 0; i < got.size(); ++i) CHECK(std::abs(got[i] - want[i]) <= sy * 1.01f);
    }
  }
  return int8;
}

}  // namespace

TEST_CASE("int8 Conv3d equals its definition", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261207);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  SECTION("a video net's 3x3x3 pad 1, and a strided one") {
    Conv3dCase c;
    c.cin = 8, c.cout = 16, c.in[0] = 8, c.in[1] = c.in[2] = 16;
    for (int a = 0; a < 3; ++a) c.k[a] = 3, c.pb[a] = c.pe[a] = 1;
    c.relu = true;
    CHECK(CheckConv3d(c, rng, tiers));
    c.s[0] = c.s[1] = c.s[2] = 2, c.relu = false;
    CHECK(CheckConv3d(c, rng, tiers));
  }
  SECTION("random geometries, grouped ones in float") {
    for (int iter = 0; iter < 60; ++iter) {
      Conv3dCase c;
      c.batch = pick(1, 2);
      c.group = pick(0, 4) == 0 ? 2 : 1;
      c.cin = c.group * pick(1, 4);
      c.cout = c.group * pick(1, 5);
      c.relu = pick(0, 1) == 1;
      for (int a = 0; a < 3; ++a) {
        c.k[a] = pick(1, 3), c.s[a] = pick(1, 2), c.d[a] = pick(1, 2);
        c.pb[a] = pick(0, c.k[a] - 1), c.pe[a] = pick(0, c.k[a] - 1);
        c.in[a] = std::max<int64_t>((c.k[a] - 1) * c.d[a] + 1 - c.pb[a] - c.pe[a], pick(1, a == 0 ? 6 : 12));
      }
      const bool int8 = CheckConv3d(c, rng, tiers);
      CHECK(int8 == (c.group == 1));
    }
  }
}

}  // namespace edge::engine::testing
