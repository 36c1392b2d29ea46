// Operators the broader zoo brought in (tests/models/make_zoo.py: tiny_transformer and
// friends): Pow (LayerNorm's square in its opset-13 decomposition) and the int8 MatMul of two
// activations (attention's Q.K^T and weights.V), checked against values computed here from
// the ONNX definitions.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/ops/portable_math.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

TEST_CASE("Pow: a constant exponent is an element-wise function, a computed one broadcasts", "[engine][operators]") {
  const std::vector<float> x = {-2.0f, -0.5f, 0.0f, 0.3f, 1.5f, 3.0f};
  SECTION("square and cube multiply, as ONNX Runtime does") {
    for (float e : {2.0f, 3.0f}) {
      Builder b(13);
      b.Input("x", {2, 3}).Init("e", {}, {e}).Output("y");
      b.Node("Pow", {"x", "e"}, {"y"});
      const auto y = RunAll(LoadOk(b), {x})[0];
      for (size_t i = 0; i < x.size(); ++i) {
        INFO(x[i] << "^" << e);
        CHECK(y[i] == (e == 2.0f ? x[i] * x[i] : x[i] * x[i] * x[i]));
      }
    }
  }
  SECTION("other exponents: C's pow within an ulp, its special cases exactly") {
    Builder b(13);
    b.Input("x", {2, 3}).Init("e", {1}, {0.5f}).Output("y");
    b.Node("Pow", {"x", "e"}, {"y"});
    const auto y = RunAll(LoadOk(b), {x})[0];
    CHECK(std::isnan(y[0]));  // a negative base to a non-integer power
    CHECK(std::isnan(y[1]));
    CHECK(y[2] == 0.0f);
    for (size_t i = 3; i < x.size(); ++i) CHECK(y[i] == Approx(std::sqrt(x[i])).epsilon(2e-7));
  }
  SECTION("an exponent per element (computed) broadcasts against the base") {
    Builder b(13);
    b.Input("x", {2, 3}).Init("c", {3}, {-1.0f, 2.0f, 3.0f}).Output("y");
    b.Node("Identity", {"c"}, {"e0"});
    b.Node("Abs", {"e0"}, {"e1"});   // computed at run time: not a constant exponent
    b.Node("Neg", {"e1"}, {"e2"});   // [1, -2, -3] -> [-1, -2, -3]
    b.Node("Pow", {"x", "e2"}, {"y"});
    auto model = LoadOk(b);
    const auto y = RunAll(model, {x})[0];
    const std::vector<float> e = {-1.0f, -2.0f, -3.0f};
    for (size_t i = 0; i < x.size(); ++i) {
      INFO(x[i] << "^" << e[i % 3]);
      if (x[i] == 0.0f) {
        CHECK(std::isinf(y[i]));
      } else {
        CHECK(y[i] == Approx(std::pow(double(x[i]), double(e[i % 3]))).epsilon(2e-7));
      }
    }
  }
  SECTION("edge cases of the portable pow") {
    CHECK(portable::Pow(NAN, 0.0f) == 1.0f);
    CHECK(portable::Pow(1.0f, NAN) == 1.0f);
    CHECK(std::isnan(portable::Pow(NAN, 1.0f)));
    CHECK(portable::Pow(-2.0f, 3.0f) == -8.0f);
    CHECK(portable::Pow(-2.0f, -1.0f) == -0.5f);
    CHECK(portable::Pow(-0.0f, -1.0f) == -INFINITY);
    CHECK(portable::Pow(-0.0f, -2.0f) == INFINITY);
    CHECK(portable::Pow(-1.0f, INFINITY) == 1.0f);
    CHECK(portable::Pow(0.5f, INFINITY) == 0.0f);
    CHECK(portable::Pow(2.0f, -INFINITY) == 0.0f);
    CHECK(portable::Pow(2.0f, 10.0f) == 1024.0f);
    CHECK(portable::Pow(10.0f, 40.0f) == INFINITY);  // overflows float
  }
}

TEST_CASE("Pow between DequantizeLinear and QuantizeLinear is an int8 lookup", "[engine][operators]") {
  Builder b(13);
  b.Input("x", {1, 8}).Init("e", {}, {2.0f}).Init("s_in", {}, {0.05f}).Init("s_out", {}, {0.02f});
  b.InitI8("zp", {}, {0}).InitI8("zo", {}, {-128}).Output("y");
  b.Node("QuantizeLinear", {"x", "s_in", "zp"}, {"xq"});
  b.Node("DequantizeLinear", {"xq", "s_in", "zp"}, {"xd"});
  b.Node("Pow", {"xd", "e"}, {"p"});
  b.Node("QuantizeLinear", {"p", "s_out", "zo"}, {"pq"});
  b.Node("DequantizeLinear", {"pq", "s_out", "zo"}, {"y"});
  auto model = LoadOk(b);
  CHECK(HasStep(*model, "Pow"));
  CHECK(HasStep(*model, "int8"));
  const std::vector<float> x = {-1.0f, -0.33f, 0.0f, 0.12f, 0.5f, 1.0f, 2.0f, 6.0f};
  const auto y = RunAll(model, {x})[0];
  for (size_t i = 0; i < x.size(); ++i) {
    const float xq = std::clamp(std::nearbyint(x[i] / 0.05f), -128.0f, 127.0f) * 0.05f;
    const float yq = (std::clamp(std::nearbyint(xq * xq / 0.02f) - 128.0f, -128.0f, 127.0f) + 128.0f) * 0.02f;
    INFO(x[i]);
    CHECK(y[i] == Approx(yq).margin(1e-6));
  }
}

// [B, M, K] x [B, K, N] -> [B, M, N] between QDQ pairs, with zero points on every side.
struct QdqParams {
  float sa = 0.04f, sb = 0.03f, sy = 0.05f;
  int za = 5, zb = -7, zy = 3;
};

Builder QdqMatMul(const std::vector<int64_t>& a_shape, const std::vector<int64_t>& b_shape, bool relu,
                  const QdqParams& q = {}) {
  Builder b(13);
  b.Input("a", a_shape).Input("b", b_shape).Output("y");
  b.Init("sa", {}, {q.sa}).Init("sb", {}, {q.sb}).Init("sy", {}, {q.sy});
  b.InitI8("za", {}, {q.za}).InitI8("zb", {}, {q.zb}).InitI8("zy", {}, {q.zy});
  b.Node("QuantizeLinear", {"a", "sa", "za"}, {"aq"});
  b.Node("DequantizeLinear", {"aq", "sa", "za"}, {"ad"});
  b.Node("QuantizeLinear", {"b", "sb", "zb"}, {"bq"});
  b.Node("DequantizeLinear", {"bq", "sb", "zb"}, {"bd"});
  b.Node("MatMul", {"ad", "bd"}, {"m"});
  if (relu) b.Node("Relu", {"m"}, {"mr"});
  b.Node("QuantizeLinear", {relu ? "mr" : "m", "sy", "zy"}, {"yq"});
  b.Node("DequantizeLinear", {"yq", "sy", "zy"}, {"y"});
  return b;
}

int8_t Q(float v, float s, int z) {
  return static_cast<int8_t>(std::clamp(std::nearbyint(v / s) + float(z), -128.0f, 127.0f));
}

TEST_CASE("MatMul of two int8 activations runs in int8, exact to the QDQ graph, at every tier",
          "[engine][operators][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  // Batch broadcast: a is [2, 1, 3, 5], b is [1, 2, 5, 300] (N wider than the step's column
  // block of 256), the output [2, 2, 3, 300].
  const std::vector<int64_t> as = {2, 1, 3, 5}, bs = {1, 2, 5, 300};
  std::vector<float> a(2 * 3 * 5), bv(2 * 5 * 300);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(float(i) * 0.7f) * 4.0f;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = std::cos(float(i) * 0.37f) * 3.0f;
  for (bool relu : {false, true}) {
    DYNAMIC_SECTION((relu ? "with Relu" : "plain")) {
      auto model = LoadOk(QdqMatMul(as, bs, relu));
      CHECK(HasStep(*model, "int8 x int8"));
      CHECK_FALSE(HasStep(*model, "(float)"));  // no float MatMul step
      // The QDQ graph's meaning, in double: DQ both, multiply, (Relu,) Q, DQ.
      std::vector<float> expected;
      for (int64_t p = 0; p < 2; ++p) {
        for (int64_t q = 0; q < 2; ++q) {
          for (int64_t i = 0; i < 3; ++i) {
            for (int64_t j = 0; j < 300; ++j) {
              int32_t acc = 0;
              for (int64_t t = 0; t < 5; ++t) {
                acc += (Q(a[(p * 3 + i) * 5 + t], 0.04f, 5) - 5) * (Q(bv[(q * 5 + t) * 300 + j], 0.03f, -7) + 7);
              }
              float v = float(acc) * (0.04f * 0.03f / 0.05f);
              if (relu) v = std::max(v, 0.0f);
              expected.push_back((std::clamp(std::nearbyint(v) + 3.0f, -128.0f, 127.0f) - 3.0f) * 0.05f);
            }
          }
        }
      }
      for (KernelTier tier : tiers) {
        ExecutionContext ctx(model, tier);
        std::vector<float> y(expected.size());
        const float* in[] = {a.data(), bv.data()};
        float* out[] = {y.data()};
        REQUIRE(ctx.Run(in, out).has_value());
        size_t differing = 0;
        for (size_t i = 0; i < y.size(); ++i) differing += y[i] == expected[i] ? 0 : 1;
        INFO("tier " << KernelTierName(tier) << ": " << differing << " of " << y.size() << " differ");
        CHECK(differing == 0);
      }
    }
  }
}

// The step sums in float where that is exact (K <= 258: |a - za|, |b - zb| <= 255, so every
// partial sum stays below 2^24) and in int32 beyond: the largest sums the float path takes
// (nearly every product -65025) and the first depth past it give the exact results.
TEST_CASE("MatMul of two int8 activations is exact at the float sums' depth limit, at every tier",
          "[engine][operators][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  QdqParams q;
  q.sa = 0.0625f, q.sb = 0.0625f, q.sy = 512.0f;  // powers of two: inputs and multiplier exact
  q.za = -128, q.zb = 127, q.zy = 0;
  std::mt19937 rng(258);
  for (int64_t k : {257, 258, 259}) {
    const int64_t m = 3, n = 5;
    std::vector<int> qa(static_cast<size_t>(m * k)), qb(static_cast<size_t>(k * n));
    // mostly the extreme codes (a - za = 255, b - zb = -255), some others
    for (auto& v : qa) v = rng() % 8 == 0 ? static_cast<int>(rng() % 256) - 128 : 127;
    for (auto& v : qb) v = rng() % 8 == 0 ? static_cast<int>(rng() % 256) - 128 : -128;
    std::vector<float> a(qa.size()), b(qb.size());
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(qa[i] - q.za) * q.sa;
    for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(qb[i] - q.zb) * q.sb;
    auto model = LoadOk(QdqMatMul({m, k}, {k, n}, false, q));
    REQUIRE(HasStep(*model, "int8 x int8"));
    std::vector<float> expected;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        int32_t acc = 0;
        for (int64_t t = 0; t < k; ++t) acc += (qa[i * k + t] - q.za) * (qb[t * n + j] - q.zb);
        const float v = static_cast<float>(acc) * (q.sa * q.sb / q.sy);
        expected.push_back(std::clamp(std::nearbyint(v), -128.0f, 127.0f) * q.sy);
      }
    }
    for (KernelTier tier : tiers) {
      const auto y = RunAll(model, {a, b}, tier)[0];
      INFO("tier " << KernelTierName(tier) << " K " << k);
      CHECK(y == expected);
    }
  }
}

// int8 Add and Mul under the broadcasts their step walks differently: runs shorter than a
// vector step (gathered into chunks of whole runs for the tier's kernel), runs of a kernel call
// each, an operand of the output's shape (read in place) or neither, a constant first operand,
// and enough runs for several chunks. Expected: the scalar kernel's definition per element
// (kernels/elementwise_ref.cpp), indexed here by numpy broadcasting.
struct BroadcastCase {
  std::vector<int64_t> a, b;
  bool a_const = false;
};

std::vector<int64_t> BroadcastShape(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    const int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    out[i] = da == 1 ? db : da;  // numpy: a 1 takes the other's size, 0 included
  }
  return out;
}

// The element of an operand of `shape` that output element `index` (of `out`) reads.
int64_t BroadcastIndex(const std::vector<int64_t>& shape, const std::vector<int64_t>& out, int64_t index) {
  int64_t at = 0, stride = 1;
  for (size_t i = out.size(); i-- > 0;) {
    const int64_t coord = index % out[i];
    index /= out[i];
    const size_t from_end = out.size() - 1 - i;
    if (from_end < shape.size()) {
      const int64_t dim = shape[shape.size() - 1 - from_end];
      if (dim != 1) at += coord * stride;
      stride *= dim;
    }
  }
  return at;
}

TEST_CASE("int8 Add and Mul under every broadcast walk equal the element definition at every tier",
          "[engine][operators][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  const std::vector<BroadcastCase> cases = {
      {{1, 8, 3, 3}, {1, 8, 1, 1}},       // runs of 9: a channel's map under a per-channel value
      {{8, 1, 1}, {1, 8, 3, 3}, true},    // the same with a constant first operand
      {{1, 300, 3, 3}, {300, 1, 1}},      // 2,700 elements in runs of 9: three chunks
      {{1, 500, 1, 3}, {1, 1, 1, 3}},     // runs of 3, the second operand the same run each time
      {{3}, {1, 700, 3}, true},           // a constant row first, 2,100 elements
      {{3, 1, 5}, {1, 4, 1}},             // neither operand has the output's shape
      {{6, 1}, {1, 7}},                   // an outer product
      {{2, 3, 17}, {2, 3, 1}},            // runs of 17: a kernel call per run
      {{1, 5, 40}, {40}},                 // runs of 40, both operands contiguous in a run
      {{4, 5}, {4, 5}},                   // the same shape (Mul: one run of 20)
      {{2, 3}, {2, 3}},                   // the same shape, shorter than a vector step
      {{1}, {1}},                         // one element
      {{2, 0}, {2, 1}, true},             // an empty output (an empty constant)
      {{2, 0}, {1}, true},
  };
  const float sa = 0.045f, sb = 0.031f, sy = 0.06f;
  const int za = 7, zb = -11, zy = 4;
  for (const BroadcastCase& c : cases) {
    for (const std::string op : {"Add", "Mul"}) {
      const std::vector<int64_t> out = BroadcastShape(c.a, c.b);
      const int64_t na = Elements(c.a), nb = Elements(c.b), ny = Elements(out);
      std::vector<float> a(static_cast<size_t>(na)), b(static_cast<size_t>(nb));
      for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(float(i) * 1.3f) * 6.0f;
      for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(float(i) * 0.61f) * 4.5f;
      std::vector<int> a_codes(a.size());
      for (size_t i = 0; i < a.size(); ++i) a_codes[i] = Q(a[i], sa, za);
      Builder g(13);
      if (!c.a_const) g.Input("a", c.a);
      g.Input("b", c.b).Output("y");
      g.Init("sa", {}, {sa}).Init("sb", {}, {sb}).Init("sy", {}, {sy});
      g.InitI8("za", {}, {za}).InitI8("zb", {}, {zb}).InitI8("zy", {}, {zy});
      if (c.a_const) {
        g.InitI8("aq", c.a, a_codes);
      } else {
        g.Node("QuantizeLinear", {"a", "sa", "za"}, {"aq"});
      }
      g.Node("DequantizeLinear", {"aq", "sa", "za"}, {"ad"});
      g.Node("QuantizeLinear", {"b", "sb", "zb"}, {"bq"});
      g.Node("DequantizeLinear", {"bq", "sb", "zb"}, {"bd"});
      g.Node(op, {"ad", "bd"}, {"s"});
      g.Node("QuantizeLinear", {"s", "sy", "zy"}, {"yq"});
      g.Node("DequantizeLinear", {"yq", "sy", "zy"}, {"y"});
      auto model = LoadOk(g);
      INFO(op << " of [" << na << "] and [" << nb << "] elements, output [" << ny << "]");
      REQUIRE(HasStep(*model, op + " "));
      CHECK_FALSE(HasStep(*model, "(float)"));
      const bool mul = op == "Mul";
      std::vector<float> expected(static_cast<size_t>(ny));
      for (int64_t o = 0; o < ny; ++o) {
        const int8_t qa = static_cast<int8_t>(a_codes[static_cast<size_t>(BroadcastIndex(c.a, out, o))]);
        const int8_t qb = Q(b[static_cast<size_t>(BroadcastIndex(c.b, out, o))], sb, zb);
        int8_t qy = 0;
        QBinaryRunScalar({&qa, &qb, 0, 0, 1, mul, mul ? sa * sb / sy : sa / sy, sb / sy, za, zb, zy, -128, 127, &qy});
        DequantizeScalar(&qy, 1, sy, zy, &expected[static_cast<size_t>(o)]);
      }
      for (KernelTier tier : tiers) {
        const std::vector<float> y = c.a_const ? RunAll(model, {b}, tier)[0] : RunAll(model, {a, b}, tier)[0];
        size_t differing = 0;
        for (size_t i = 0; i < y.size(); ++i) differing += y[i] == expected[i] ? 0 : 1;
        INFO("tier " << KernelTierName(tier) << ": " << differing << " of " << y.size() << " differ");
        CHECK(differing == 0);
      }
    }
  }
}

TEST_CASE("MatMul of an int8 and a float activation stays float", "[engine][operators]") {
  Builder b(13);
  b.Input("a", {2, 3}).Input("b", {3, 2}).Output("y");
  b.Init("s", {}, {0.1f}).InitI8("z", {}, {0});
  b.Node("QuantizeLinear", {"a", "s", "z"}, {"aq"});
  b.Node("DequantizeLinear", {"aq", "s", "z"}, {"ad"});
  b.Node("MatMul", {"ad", "b"}, {"m"});
  b.Node("QuantizeLinear", {"m", "s", "z"}, {"mq"});
  b.Node("DequantizeLinear", {"mq", "s", "z"}, {"y"});
  auto model = LoadOk(b);
  CHECK_FALSE(HasStep(*model, "int8 x int8"));
  const auto y = RunAll(model, {{1, 2, 3, 4, 5, 6}, {1, 0, 0, 1, 1, 1}})[0];
  CHECK(y == std::vector<float>{4.0f, 5.0f, 10.0f, 11.0f});
}

// Softmax over the last axis runs its rows together (one e^x call for the whole tensor, four
// row sums side by side); over another axis, element by element with a stride. Each row's
// operations are the same, so a Softmax of the transposed tensor, transposed back, must give
// the same bits, for Softmax and LogSoftmax, at every tier, with rows of every length.
TEST_CASE("Softmax over the last axis equals the strided loop bit for bit", "[engine][operators][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> wide(-60.0f, 60.0f);
  for (const char* op : {"Softmax", "LogSoftmax"}) {
    for (int64_t rows : {1, 3, 4, 9}) {
      for (int64_t n : {1, 7, 20, 33}) {
        auto build = [&](bool last) {
          Builder b(13);
          b.Input("x", {1, rows, n}).Output("y");
          if (last) {
            IntAttr(b.Node(op, {"x"}, {"y"}), "axis", 2);
          } else {
            IntsAttr(b.Node("Transpose", {"x"}, {"t"}), "perm", {0, 2, 1});
            IntAttr(b.Node(op, {"t"}, {"s"}), "axis", 1);
            IntsAttr(b.Node("Transpose", {"s"}, {"y"}), "perm", {0, 2, 1});
          }
          auto m = b.Load();
          if (!m) FAIL(m.error().message);
          return *m;
        };
        const auto rowwise = build(true), strided = build(false);
        std::vector<float> x(static_cast<size_t>(rows * n));
        for (size_t i = 0; i < x.size(); ++i) x[i] = i % 11 == 5 ? -INFINITY : wide(rng);
        if (x.size() > 2) x[2] = 88.5f;  // a large maximum: tiny terms underflow
        for (KernelTier tier : tiers) {
          INFO(op << " rows " << rows << " n " << n << " tier " << KernelTierName(tier));
          const auto a = RunAll(rowwise, {x}, tier)[0], b = RunAll(strided, {x}, tier)[0];
          CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
        }
      }
    }
  }
}

// The quantizer puts QDQ on both operands of attention's MatMuls, on Erf and on Softmax, and
// the engine runs the committed int8 transformer that way.
TEST_CASE("the int8 transformer's attention products, GELU's Erf and Softmax run in int8", "[engine][zoo]") {
  auto model = LoadOrDie(ZooPath("tiny_transformer.qdq.onnx"));
  int products = 0, erf = 0, softmax_quantized = 0;
  const auto steps = model->StepSummary();
  for (size_t i = 0; i < steps.size(); ++i) {
    INFO(steps[i]);
    products += steps[i].find("int8 x int8") != std::string::npos ? 1 : 0;
    // Erf a lookup of its own, or a link of a lookup chain (GELU's Div, Erf and Add: one table)
    erf += (steps[i].find("Erf") == 0 && steps[i].find("(int8)") != std::string::npos) ||
                   (steps[i].find(" + Erf") != std::string::npos && steps[i].find("lookup") != std::string::npos)
               ? 1
               : 0;
    // Softmax: float inside one step, its exponentials looked up by (code, row's largest code)
    softmax_quantized += steps[i].find("Softmax") == 0 &&
                         steps[i].find("(int8, float inside, exponentials from a table)") != std::string::npos;
  }
  CHECK(products == 2);
  CHECK(erf == 1);
  CHECK(softmax_quantized == 1);
}

}  // namespace
}  // namespace edge::engine::testing
