// int8 3x3 stride-1 convolution by Winograd F(2x2, 3x3) on int16, for the AVX2 tier, whose
// int8 multiply rate is its int16 one (vpmaddwd): 16 multiplies per 2x2 outputs and input
// channel instead of 36.
//
// Exact, not approximate: with G' = 2G = [[2,0,0],[1,1,1],[1,-1,1],[0,0,2]] every transform
// is integer, U = G' g G'^T (|U| <= 9 * 128), V = B^T d B (|V| <= 4 * 128 for int8 d), and
// A^T (sum over channels of U . V) A is 4x the convolution's integer sum, divided back by an
// exact shift. The int8 input enters as its codes x (padding: the zero point zx), so the
// accumulator is bias_signed + sum w * x, the integer the GEMM form reaches as bias + sum w *
// (x + 128); the requantization is QGemm's. Every sum fits int32 for cin <= kWinogradMaxChannels.
#pragma once

#include <cstdint>

namespace edge::engine {

inline constexpr int64_t kWinogradMaxChannels = 128;  // input channels (also bounds the stack)

struct WinogradArgs {
  const int8_t* x = nullptr;  // [cin][ih][iw] int8 codes
  int64_t cin = 0, cout = 0, ih = 0, iw = 0, oh = 0, ow = 0, pad_t = 0, pad_l = 0;
  int8_t zx = 0;                   // the input zero point (the padding's value)
  const int16_t* u = nullptr;      // PackWinogradWeights: [16][cout][WinogradPairs(cin) * 2]
  const int32_t* bias = nullptr;   // [cout]: bias - zx * sum w (QGemmArgs::bias_signed)
  const float* mult = nullptr;     // [cout]
  int32_t zero_point = 0, qmin = -128, qmax = 127;
  int8_t* out = nullptr;   // [cout][oh][ow]
  int8_t* scratch = nullptr;  // WinogradScratchBytes(cin, oh, ow) bytes
};
using WinogradFn = void (*)(const WinogradArgs&);

inline int64_t WinogradPairs(int64_t cin) { return (cin + 1) / 2; }
// The zero-point padded input planes, (2 * ceil(oh / 2) + 2) x (2 * ceil(ow / 2) + 2) each,
// and slack for the last tiles' row reads (10 bytes from a quarter's first column).
int64_t WinogradScratchBytes(int64_t cin, int64_t oh, int64_t ow);
// w: [cout][cin][3][3] -> u: [16][cout][WinogradPairs(cin) * 2], U = G' g G'^T per channel
// pair, the odd channel's partner zero.
void PackWinogradWeights(const int8_t* w, int64_t cout, int64_t cin, int16_t* u);

void WinogradAvx2(const WinogradArgs& args);  // x86-64, kernels/winograd_avx2.cpp

}  // namespace edge::engine
