// int8 Transpose: the tier's byte-matrix kernel against the scalar one, and whole Transpose
// nodes (runs copied, 2-D slices through the kernel, the element walk otherwise) against a
// transpose computed here, at every tier.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine {
namespace {

using testing::Builder;
using TP = onnx::TensorProto;

TEST_CASE("every tier's byte transpose equals the scalar reference", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_SIMD_TIERS);
  std::mt19937 rng(16);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    const auto check = [&](int64_t rows, int64_t cols, int64_t src_stride, int64_t dst_stride) {
      std::vector<uint8_t> src(static_cast<size_t>(rows * src_stride));
      for (auto& b : src) b = static_cast<uint8_t>(rng());
      std::vector<uint8_t> want(static_cast<size_t>(cols * dst_stride), 0xA5), got = want;
      TransposeBytesScalar(src.data(), src_stride, rows, cols, want.data(), dst_stride);
      k.transpose_bytes(src.data(), src_stride, rows, cols, got.data(), dst_stride);
      INFO("tier " << KernelTierName(tier) << " rows " << rows << " cols " << cols);
      REQUIRE(got == want);  // the gaps between rows keep their 0xA5
    };
    for (int64_t rows : {1, 15, 16, 17, 32, 33, 47, 50, 256}) {
      for (int64_t cols : {1, 15, 16, 20, 31, 32, 33, 48, 64, 70}) check(rows, cols, cols + 3, rows + 5);
    }
    // 2-8 rows interleaved into contiguous output rows, and 2-8 contiguous columns split into
    // output rows (channels of NCHW <-> NHWC: the AVX2 tiers' byte shuffles), on both sides of
    // 16 for the long side
    for (int64_t n : {2, 3, 4, 5, 7, 8, 9}) {
      for (int64_t len : {15, 16, 17, 31, 33, 100}) {
        check(n, len, len + 3, n);
        check(len, n, n, len + 5);
      }
    }
  }
}

// y = Transpose(x, perm) of an int8 graph input, computed directly.
std::vector<float> Transposed(const std::vector<float>& x, const std::vector<int64_t>& shape,
                              const std::vector<int64_t>& perm) {
  const size_t rank = shape.size();
  std::vector<int64_t> in_strides(rank), out_shape(rank);
  int64_t st = 1;
  for (size_t d = rank; d-- > 0;) {
    in_strides[d] = st;
    st *= shape[d];
  }
  for (size_t d = 0; d < rank; ++d) out_shape[d] = shape[static_cast<size_t>(perm[d])];
  std::vector<float> y(x.size());
  std::vector<int64_t> idx(rank, 0);
  for (size_t o = 0; o < y.size(); ++o) {
    int64_t src = 0;
    for (size_t d = 0; d < rank; ++d) src += idx[d] * in_strides[static_cast<size_t>(perm[d])];
    y[o] = x[static_cast<size_t>(src)];
    for (size_t d = rank; d-- > 0;) {
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
  return y;
}

TEST_CASE("int8 and float Transpose move every element to its place at every tier", "[engine][kernels][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  struct Case {
    std::vector<int64_t> shape, perm;
  };
  const std::vector<Case> cases = {
      {{37, 70}, {1, 0}},                // one 2-D slice
      {{5, 33, 40}, {0, 2, 1}},          // slices per leading index
      {{5, 33, 40}, {2, 0, 1}},          // a slice's columns strided in the output
      {{5, 33, 40}, {1, 0, 2}},          // innermost kept: runs copied
      {{5, 33, 40}, {2, 1, 0}},          // the contiguous input axis outermost
      {{2, 17, 9, 35}, {0, 2, 3, 1}},    // NCHW -> NHWC
      {{2, 17, 9, 35}, {0, 3, 1, 2}},    // NHWC -> NCHW
      {{1, 48, 1, 40}, {0, 3, 2, 1}},    // size-1 dimensions
      {{3, 1, 1}, {2, 1, 0}},            // nothing but size 1 around one axis
      {{1, 64, 4, 16}, {0, 2, 1, 3}},    // attention heads: runs of 16 bytes, two outer axes
      {{1, 4, 64, 32}, {0, 2, 1, 3}},    // and back, runs of 32
      {{64, 8, 8}, {1, 0, 2}},           // runs of 8
      {{3, 5, 7, 4}, {2, 1, 0, 3}},      // runs of 4 under three outer axes (the general walk)
      {{2, 9, 64}, {1, 0, 2}},           // runs of 64
      {{1, 3, 20, 19}, {0, 2, 3, 1}},    // 3 channels NCHW -> NHWC (interleaved)
      {{1, 20, 19, 3}, {0, 3, 1, 2}},    // and NHWC -> NCHW (split)
      {{2, 40, 5}, {0, 2, 1}},           // [N, 5] -> [5, N] per leading index
      {{1, 8, 7}, {0, 2, 1}},            // both sides under 16
  };
  std::mt19937 rng(99);
  for (const auto type : {TP::INT8, TP::FLOAT}) {
    for (const Case& c : cases) {
      Builder b(13);
      b.Input("x", c.shape, type).Output("y");
      testing::IntsAttr(b.Node("Transpose", {"x"}, {"y"}), "perm", c.perm);
      auto model = testing::LoadOk(b);
      int64_t total = 1;
      for (int64_t d : c.shape) total *= d;
      std::vector<float> x(static_cast<size_t>(total));
      std::normal_distribution<float> normal(0.0f, 3.0f);
      for (auto& v : x) v = type == TP::INT8 ? static_cast<float>(static_cast<int8_t>(rng())) : normal(rng);
      const auto want = Transposed(x, c.shape, c.perm);
      for (KernelTier tier : tiers) {
        INFO("tier " << KernelTierName(tier) << " type " << type << " rank " << c.shape.size() << " perm[0] "
                     << c.perm[0]);
        REQUIRE(testing::RunAll(model, {x}, tier)[0] == want);
      }
    }
  }
}

TEST_CASE("a Transpose of a constant folds at load up to 65,536 float elements, a larger one is a step",
          "[engine][operators]") {
  for (int64_t n : {100, 70000}) {
    Builder b(13);
    b.Input("x", {1, n}).Output("y");
    std::vector<float> c(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) c[static_cast<size_t>(i)] = static_cast<float>(i % 1000) * 0.5f;
    b.Init("c", {n, 1}, c);
    b.Node("Transpose", {"c"}, {"ct"});
    b.Node("Add", {"x", "ct"}, {"y"});
    auto model = testing::LoadOk(b);
    bool step = false;
    for (const auto& s : model->StepSummary()) step = step || s.find("Transpose") != std::string::npos;
    INFO("n " << n);
    CHECK(step == (n > 65536));
    std::vector<float> x(static_cast<size_t>(n), 1.0f), want(static_cast<size_t>(n));
    for (size_t i = 0; i < want.size(); ++i) want[i] = 1.0f + c[i];
    CHECK(testing::RunAll(model, {x})[0] == want);
  }
}

}  // namespace
}  // namespace edge::engine
