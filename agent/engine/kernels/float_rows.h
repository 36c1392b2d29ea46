// A row vector times a matrix in float, the product a recurrent cell takes each time step
// (ops/recurrent.cpp): y[j] = x[0] w[j] + x[1] w[ldw + j] + ... + x[rows - 1] w[(rows - 1) ldw + j]
// for j < n. Each lane adds its products in row order, a multiply then an add (the build has
// -ffp-contract=off), so the loop vectorized over j at any width gives the scalar loop's bits:
// the x86 tiers compile this same loop with their ISA (float_conv_avx2.cpp, float_conv_avx512.cpp).
#pragma once

#include <cstdint>

namespace edge::engine {

using FloatRowTimesMatrixFn = void (*)(const float* x, int64_t rows, const float* w, int64_t ldw, int64_t n, float* y);

inline void RowTimesMatrixLoop(const float* __restrict x, int64_t rows, const float* __restrict w, int64_t ldw,
                               int64_t n, float* __restrict y) {
  for (int64_t j = 0; j < n; ++j) y[j] = 0.0f;
  for (int64_t k = 0; k < rows; ++k) {
    const float xk = x[k];
    const float* wr = w + k * ldw;
    for (int64_t j = 0; j < n; ++j) y[j] += xk * wr[j];
  }
}

inline void RowTimesMatrixScalar(const float* x, int64_t rows, const float* w, int64_t ldw, int64_t n, float* y) {
  RowTimesMatrixLoop(x, rows, w, ldw, n, y);
}
void RowTimesMatrixAvx2(const float* x, int64_t rows, const float* w, int64_t ldw, int64_t n, float* y);
void RowTimesMatrixAvx512(const float* x, int64_t rows, const float* w, int64_t ldw, int64_t n, float* y);

}  // namespace edge::engine
