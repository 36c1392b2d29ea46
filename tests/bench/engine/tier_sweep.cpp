#include "tests/bench/engine/tier_sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/cpu_features.h"
#include "agent/engine/kernels/depthwise.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/ops/unary_math.h"
#include "tests/bench/engine/gemm_problem.h"

namespace edge::engine::bench {
namespace {

// Best of `repeats` runs after a warm-up: on a shared machine the minimum is the kernel's speed.
template <typename Run>
double BestSeconds(const Run& run, int repeats) {
  run();
  double best = 1e30;
  for (int r = 0; r < repeats; ++r) {
    const auto s = std::chrono::steady_clock::now();
    run();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - s).count());
  }
  return best;
}

double BestSeconds(QGemmFn fn, const QGemmArgs& a, int repeats) {
  return BestSeconds([&] { fn(a); }, repeats);
}

// MaxPool1d(stride) (its default stride is its width) over as many rows of 64 outputs as the
// 16,384 bytes hold whole: 128 at stride 2, 85 of 192 bytes at 3, 32 of 512 at 8.
void MaxPoolRows(const ElementwiseKernels& k, const int8_t* a, int64_t stride, int8_t* out) {
  const int64_t pitch = 64 * stride;
  for (int64_t r = 0; r < 16384 / pitch; ++r) {
    const int8_t* row = a + r * pitch;
    k.maxpool_row(MaxPoolRowArgs{&row, 1, 64, stride, stride, 1, out + r * 64});
  }
}

// A 2-D MaxPool (or AveragePool's window sums) of window x window at that stride over the 16,384
// bytes as 32 rows of 512: 32 / window output rows of 512 / stride outputs (8x8/8: 4 of 64,
// 10x10/10: 3 of 51), each from `window` input rows.
// kh x kw windows at strides sh x sw over the rows of `pitch` bytes at a (as many output rows as
// 16384 bytes hold): the tier's MaxPool rows or window sums, as the int8 pool steps call them.
void WindowRows2D(const ElementwiseKernels& k, const int8_t* a, int64_t kh, int64_t kw, int64_t sh, int64_t sw,
                  int64_t pitch, bool sums, int8_t* out) {
  const int64_t n = (pitch - kw) / sw + 1, out_rows = (16384 / pitch - kh) / sh + 1;
  std::vector<int32_t> window_sums(static_cast<size_t>(n));
  for (int64_t oy = 0; oy < out_rows; ++oy) {
    const int8_t* first = a + oy * sh * pitch;
    if (sums) {
      k.window_sum_row({first, pitch, kh, n, sw, kw, window_sums.data()});
      out[oy] = static_cast<int8_t>(window_sums[static_cast<size_t>(n - 1)]);
    } else {
      const int8_t* rows[32];
      for (int64_t r = 0; r < kh; ++r) rows[r] = first + r * pitch;
      k.maxpool_row(MaxPoolRowArgs{rows, static_cast<int>(kh), n, sw, kw, 1, out + oy * n});
    }
  }
}

// A Markdown table's header: the first column's name, then a column a tier.
void PrintTierTableHeader(std::FILE* out, const char* first, const std::vector<KernelTier>& tiers) {
  std::fprintf(out, "| %s |", first);
  for (KernelTier t : tiers) std::fprintf(out, " %s |", std::string(KernelTierName(t)).c_str());
  std::fprintf(out, "\n|---|");
  for (size_t i = 0; i < tiers.size(); ++i) std::fprintf(out, "---|");
  std::fprintf(out, "\n");
}

// ns per element of the per-element int8 kernels (ElementwiseForTier), on 16384 elements:
// L1-resident, like one activation map of the zoo models.
void PrintElementwiseSweep(std::FILE* out, const std::vector<KernelTier>& tiers) {
  constexpr int64_t kN = 16384;
  std::mt19937 rng(12);
  std::vector<int8_t> a(kN), b(kN), y(kN), table(256);
  std::vector<float> x(kN);
  for (auto& v : a) v = static_cast<int8_t>(rng());
  for (auto& v : b) v = static_cast<int8_t>(rng());
  for (auto& v : table) v = static_cast<int8_t>(rng());
  std::normal_distribution<float> dist(0.0f, 30.0f);
  for (auto& v : x) v = dist(rng);
  const QAddArgs add{a.data(), b.data(), kN, 0.7f, 0.4f, 3, -5, -2, -128, 127, y.data()};
  std::fprintf(out, "\nPer-element int8 kernels by tier, ns per element (%lld elements; MaxPool: per input element, "
                    "best of 3 passes x 200 runs).\n\n", static_cast<long long>(kN));
  PrintTierTableHeader(out, "kernel", tiers);
  struct Row {
    const char* label;
    void (*run)(const ElementwiseKernels& k, const QAddArgs& add, const float* x, const int8_t* table, int8_t* y);
    int64_t elements = kN;  // what one run reads
  };
  const Row rows[] = {
      {"lookup (int8 activations)",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t* t, int8_t* out) {
         k.lut(p.a, p.n, t, out);
       }},
      {"lookup, HardSwish-shaped table (flat below code -60)",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         static const std::vector<int8_t> hardswish = [] {
           std::vector<int8_t> t(256);
           for (int v = -128; v < 128; ++v) {
             const float real = 0.05f * static_cast<float>(v);  // HardSwish is 0 below -3
             const float hs = real * std::min(std::max(real + 3.0f, 0.0f), 6.0f) / 6.0f;
             t[static_cast<uint8_t>(v)] = static_cast<int8_t>(std::clamp(std::lround(hs / 0.05f) - 100, -128L, 127L));
           }
           return t;
         }();
         k.lut(p.a, p.n, hardswish.data(), out);
       }},
      {"Add (same shape)", [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*,
                              int8_t*) { k.qadd(p); }},
      {"QuantizeLinear (float input)",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float* in, const int8_t*, int8_t* out) {
         k.quantize(in, p.n, 0.25f, 3, out);
       }},
      {"Softmax e^(x - max), float (exp_shifted)",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float* in, const int8_t*, int8_t*) {
         static std::vector<float> e(static_cast<size_t>(p.n));
         k.exp_shifted(in, p.n, 40.0f, e.data());
       }},
      // codes spanning 100 of the table (an attention row's): 4 segments at AVX-512
      {"Softmax e^(x - max), int8, looked up by code (lookup_floats), a span of 100",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t*) {
         static std::vector<float> e(static_cast<size_t>(p.n)), table(256, 0.5f);
         static const std::vector<int8_t> codes = [&] {
           std::vector<int8_t> c(static_cast<size_t>(p.n));
           for (size_t i = 0; i < c.size(); ++i) c[i] = static_cast<int8_t>(p.a[i] % 50 + 27);  // [-22, 76]
           return c;
         }();
         k.lookup_floats(codes.data(), p.n, table.data() + 128, -22, 76, e.data());
       }},
      // a stride-2 conv's k-group views as the views form gathers them: 7 rows of 16 words at
      // column stride 2 (from rows of 33 words), 16 k-groups; per output byte
      {"stride-2 view gather (gather_words), 16 groups of 7 rows of 16 words",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t*) {
         static std::vector<uint8_t> dst(16 * 16 * 16 * 4);
         const uint8_t* src = reinterpret_cast<const uint8_t*>(p.a);
         for (int64_t g = 0; g < 16; ++g) k.gather_words(src + g * 4, 2, 2 * 33 * 4, 7, 16, dst.data() + g * 1024);
       }, 16 * 7 * 16 * 4},
      {"Mul (same shape)",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         k.qbinary_run({p.a, p.b, 1, 1, p.n, true, 0.01f, 1, p.za, p.zb, p.zo, -128, 127, out});
       }},
      {"Add, constant first operand (broadcast)",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         k.qbinary_run({p.a, p.b, 0, 1, p.n, false, p.ra, p.rb, p.za, p.zb, p.zo, -128, 127, out});
       }},
      // a per-channel operand over 7 x 7 maps: 334 runs of 49 elements (16,366 of the 16,384), one
      // kernel call of 334 rows as the step makes it (runs under 16 it gathers into chunks instead)
      {"Mul, per-channel operand, 334 rows of 49",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         k.qbinary_run({p.a, p.b, 1, 0, 49, true, 0.01f, 1, p.za, p.zb, p.zo, -128, 127, out, 334, 49, 1});
       }},
      {"Transpose of a 128 x 128 int8 matrix",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         k.transpose_bytes(reinterpret_cast<const uint8_t*>(p.a), 128, 128, 128, reinterpret_cast<uint8_t*>(out), 128);
       }},
      {"plane sums (GlobalAveragePool), 256 planes of 64",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         int32_t sums[256];
         k.plane_sum(p.a, 64, 256, sums);
         __builtin_memcpy(out, sums, sizeof(int32_t));
       }},
      {"plane maxima (GlobalMaxPool), 334 planes of 49",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         k.plane_max(p.a, 49, 334, out);
       }},
      {"MaxPool 2 wide, stride 2 (1-D), 128 rows of 64 outputs",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         MaxPoolRows(k, p.a, 2, out);
       }},
      {"MaxPool 3 wide, stride 3 (1-D), 85 rows of 64 outputs",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         MaxPoolRows(k, p.a, 3, out);
       }},
      {"MaxPool 8 wide, stride 8 (1-D), 32 rows of 64 outputs",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         MaxPoolRows(k, p.a, 8, out);
       }},
      {"AveragePool 8 wide, stride 8 (1-D window sums), 32 rows of 64 outputs",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t*) {
         int32_t sums[64];
         for (int64_t r = 0; r < 32; ++r) k.window_sum_row({p.a + r * 512, 512, 1, 64, 8, 8, sums});
       }},
      {"AveragePool 4 wide, stride 4 (1-D window sums), 64 rows of 64 outputs",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t*) {
         int32_t sums[64];
         for (int64_t r = 0; r < 64; ++r) k.window_sum_row({p.a + r * 256, 256, 1, 64, 4, 4, sums});
       }},
      {"MaxPool 8x8, stride 8 (2-D, rows first), 4 rows of 64 outputs",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         WindowRows2D(k, p.a, 8, 8, 8, 8, 512, false, out);
       }},
      {"MaxPool 10x10, stride 10 (2-D, rows first), 3 rows of 51 outputs",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         WindowRows2D(k, p.a, 10, 10, 10, 10, 512, false, out);
       }},
      {"AveragePool 8x8, stride 8 (2-D window sums, rows first), 4 rows of 64 outputs",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         WindowRows2D(k, p.a, 8, 8, 8, 8, 512, true, out);
       }},
      // held-out odd_pools' two pools on its 160-wide map (16 planes of 120 x 160 there)
      {"MaxPool 15x10, strides 15x10 (2-D, rows first), 6 rows of 16 outputs, 160 wide",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         WindowRows2D(k, p.a, 15, 10, 15, 10, 160, false, out);
       }, 90 * 160},
      {"AveragePool 5x5, stride 5 (2-D window sums), 20 rows of 32 outputs, 160 wide",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         WindowRows2D(k, p.a, 5, 5, 5, 5, 160, true, out);
       }, 100 * 160},
      {"requantize (a Concat input at another scale)",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         k.qrequant({p.a, p.n, 0.61f, p.za, p.zo, -128, 127, out});
       }},
      // 16 planes of 32 x 32 -> 16 x 16, as the int8 AveragePool step runs them: the tier's
      // one-pass form where it has one (avg_pool_2x2), else the window sums of a plane read as
      // one long row, then the division and rounding of its 256 outputs
      {"AveragePool 2x2, stride 2 (one pass, or window sums + qmean), 16 planes of 32 x 32",
       [](const ElementwiseKernels& k, const QAddArgs& p, const float*, const int8_t*, int8_t* out) {
         if (k.avg_pool_2x2 != nullptr && k.avg_pool_2x2({p.a, 16, 32, 32, 16, 16, p.za, 0.5f, p.zo, -128, 127, out})) return;
         int32_t sums[16 * 32];
         float divs[256];
         for (float& d : divs) d = 4.0f;
         for (int64_t plane = 0; plane < 16; ++plane) {
           k.window_sum_row({p.a + plane * 1024, 32, 2, 15 * 32 + 16, 2, 2, sums});
           for (int64_t oy = 0; oy < 16; ++oy) __builtin_memmove(sums + oy * 16, sums + oy * 32, 16 * sizeof(int32_t));
           k.qmean({sums, divs, 256, 0.5f, p.zo, -128, 127, out + plane * 256});
         }
       }},
  };
  for (const Row& row : rows) {
    std::vector<double> best(tiers.size(), 1e30);
    for (int pass = 0; pass < 3; ++pass) {
      for (size_t i = 0; i < tiers.size(); ++i) {
        const ElementwiseKernels& k = ElementwiseForTier(tiers[i]);
        best[i] = std::min(best[i], BestSeconds([&] { row.run(k, add, x.data(), table.data(), y.data()); }, 200));
      }
    }
    std::fprintf(out, "| %s |", row.label);
    for (double sec : best) std::fprintf(out, " %.3f |", sec * 1e9 / double(row.elements));
    std::fprintf(out, "\n");
  }
}

// ns per element of the float activations computed in double (kernels/float_math_simd.h) on 4096
// floats from N(0, 1), as the float Unary step runs them: the tier's float_transcendental, or
// ApplyUnary's loop where the tier has none (the scalar tier).
void PrintFloatActivationSweep(std::FILE* out, const std::vector<KernelTier>& tiers) {
  constexpr int64_t kN = 4096;
  std::mt19937 rng(13);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(kN), y(kN);
  for (auto& v : x) v = dist(rng);
  std::fprintf(out, "\nFloat activations by tier, ns per element (%lld floats from N(0, 1), best of 3 passes x 20 "
                    "runs).\n\n", static_cast<long long>(kN));
  PrintTierTableHeader(out, "activation", tiers);
  const struct {
    const char* label;
    FloatTranscendental op;
    UnaryKind kind;
  } rows[] = {{"Tanh", FloatTranscendental::kTanh, UnaryKind::kTanh},
              {"Erf", FloatTranscendental::kErf, UnaryKind::kErf},
              {"Gelu (Erf form)", FloatTranscendental::kGelu, UnaryKind::kGelu},
              {"Gelu (tanh approximation)", FloatTranscendental::kGeluTanh, UnaryKind::kGeluTanh}};
  for (const auto& row : rows) {
    UnaryParams params;
    params.kind = row.kind;
    std::vector<double> best(tiers.size(), 1e30);
    for (int pass = 0; pass < 3; ++pass) {
      for (size_t i = 0; i < tiers.size(); ++i) {
        const FloatTranscendentalFn fn = ElementwiseForTier(tiers[i]).float_transcendental;
        best[i] = std::min(best[i], BestSeconds(
                                        [&] {
                                          if (fn != nullptr) return fn(row.op, x.data(), kN, y.data());
                                          for (int64_t e = 0; e < kN; ++e) y[e] = ApplyUnary(params, x[e]);
                                        },
                                        20));
      }
    }
    std::fprintf(out, "| %s |", row.label);
    for (double sec : best) std::fprintf(out, " %.2f |", sec * 1e9 / double(kN));
    std::fprintf(out, "\n");
  }
}

// A plain read of `bytes` with 16-byte loads (x86-64's baseline SSE2 through GCC's vector
// extension), four independent accumulators: what streaming the GEMV's weights from the same
// cache level costs without any arithmetic.
double ReadGigabytesPerSecond(const std::vector<uint8_t>& buffer, int repeats) {
  using V = long long __attribute__((vector_size(16)));
  const size_t n = buffer.size() / sizeof(V) / 4 * 4;
  V sink = {0, 0};
  const double sec = BestSeconds(
      [&] {
        const V* p = reinterpret_cast<const V*>(buffer.data());  // vector-aligned: from operator new
        V a0 = {}, a1 = {}, a2 = {}, a3 = {};
        for (size_t i = 0; i < n; i += 4) {
          a0 ^= p[i];
          a1 ^= p[i + 1];
          a2 ^= p[i + 2];
          a3 ^= p[i + 3];
        }
        sink ^= a0 ^ a1 ^ a2 ^ a3;
        __asm__ volatile("" : : "x"(sink));  // keeps the loop
      },
      repeats);
  return double(n * sizeof(V)) / sec / 1e9;
}

// The GEMV streams kp * np bytes of packed weights per call; next to it, a read of a buffer of
// that size in the same run, alternated with it (best of each over the passes).
void PrintGemvBandwidth(std::FILE* out, const std::vector<KernelTier>& tiers, std::mt19937& rng) {
  GemmProblem problem(QGemmWeights::kRight, 1, 512, 1024, /*scattered=*/false, rng);
  const double bytes = double(problem.args.kp) * double(problem.args.np);
  std::vector<uint8_t> buffer(static_cast<size_t>(bytes));
  for (auto& b : buffer) b = static_cast<uint8_t>(rng());
  double read = 0;
  std::vector<double> gemv(tiers.size(), 0.0);
  for (int pass = 0; pass < 5; ++pass) {
    read = std::max(read, ReadGigabytesPerSecond(buffer, 200));
    for (size_t i = 0; i < tiers.size(); ++i) {
      if (tiers[i] == KernelTier::kScalar) continue;
      gemv[i] = std::max(gemv[i], bytes / BestSeconds(QGemmForTier(tiers[i]), problem.args, 200) / 1e9);
    }
  }
  std::fprintf(out, "\nGEMV 1x1024x512 weight stream (%.0f KB of packed weights per call) against a plain "
                    "memory-read loop over as many bytes (16-byte loads), GB/s, best of 5 alternated passes.\n\n"
                    "| tier | GEMV GB/s | memory read GB/s | GEMV / read |\n|---|---|---|---|\n",
               bytes / 1024);
  for (size_t i = 0; i < tiers.size(); ++i) {
    if (tiers[i] == KernelTier::kScalar) continue;
    std::fprintf(out, "| %s | %.1f | %.1f | %.2f |\n", std::string(KernelTierName(tiers[i])).c_str(), gemv[i], read,
                 gemv[i] / read);
  }
}

struct Shape {
  const char* label;
  QGemmWeights weights;
  int64_t m, n, k;
};

// ns per output of the int8 depthwise kernel (ElementwiseForTier(t).depthwise, the stride-phase
// split included where the plan has one, or the input unsplit where the tier's kernel takes
// it) on the zoo's 3x3 depthwise convs, three held-out ones and two of MobileNetV2 at 224 x 224:
// all channels of one conv per call, as the conv step calls it.
void PrintDepthwiseSweep(std::FILE* out, const std::vector<KernelTier>& tiers, std::mt19937& rng) {
  struct Conv {
    const char* label;
    int64_t channels, in_h, in_w, kernel, stride, dilation, pad;
  };
  const Conv convs[] = {
      {"DS-CNN 3x3, 32 ch 25 x 5", 32, 25, 5, 3, 1, 1, 1},
      {"MobileNet block 3x3, 64 ch 16 x 16", 64, 16, 16, 3, 1, 1, 1},
      {"MobileNet block 3x3 stride 2, 64 ch 16 x 16", 64, 16, 16, 3, 2, 1, 1},
      {"odd_strides 3x3 stride 2 dilation 2, 12 ch 21 x 23", 12, 21, 23, 3, 2, 2, 2},
      {"efflite_swish 3x3, 16 ch 40 x 56", 16, 40, 56, 3, 1, 1, 1},
      {"efflite_swish 5x5, 96 ch 20 x 28", 96, 20, 28, 5, 1, 1, 2},
      {"mnas_se 5x5, 72 ch 15 x 15", 72, 15, 15, 5, 1, 1, 2},
      {"MobileNetV2-224 3x3, 32 ch 112 x 112", 32, 112, 112, 3, 1, 1, 1},
      {"MobileNetV2-224 3x3 stride 2, 96 ch 112 x 112", 96, 112, 112, 3, 2, 1, 1},
  };
  std::fprintf(out, "\nDepthwise int8 convs by tier, ns per output (all channels per call, the stride-phase split "
                    "included), best of 3 passes x 200 runs.\n\n");
  PrintTierTableHeader(out, "conv", tiers);
  for (const Conv& c : convs) {
    ConvGeometry g;
    g.channels = 1;
    g.in_h = c.in_h;
    g.in_w = c.in_w;
    g.kernel_h = g.kernel_w = c.kernel;
    g.stride_h = g.stride_w = c.stride;
    g.dilation_h = g.dilation_w = c.dilation;
    g.pad_top = g.pad_left = c.pad;
    g.out_h = (c.in_h + 2 * c.pad - (c.kernel - 1) * c.dilation - 1) / c.stride + 1;
    g.out_w = (c.in_w + 2 * c.pad - (c.kernel - 1) * c.dilation - 1) / c.stride + 1;
    const DepthwisePlan plan = MakeDepthwisePlan(g);
    std::vector<int8_t> x(static_cast<size_t>(c.channels * c.in_h * c.in_w + 64)), weights(static_cast<size_t>(c.channels * plan.taps));
    for (auto& v : x) v = static_cast<int8_t>(rng());
    for (auto& v : weights) v = static_cast<int8_t>(rng());
    const std::vector<int32_t> words = PackDepthwiseWords(plan, weights.data(), c.channels);
    std::vector<int32_t> bias(static_cast<size_t>(c.channels), 7);
    std::vector<float> mult(static_cast<size_t>(c.channels), 1e-3f);
    std::vector<int8_t> phases(static_cast<size_t>(c.channels * plan.phase_bytes + 64));
    std::vector<int8_t> y(static_cast<size_t>(c.channels * plan.grid + 64));
    DepthwiseArgs a;
    a.src = plan.split ? phases.data() : x.data();
    a.src_stride = plan.split ? plan.phase_bytes : c.in_h * c.in_w;
    a.out = y.data();
    a.out_stride = plan.grid;
    a.channels = c.channels;
    a.plan = &plan;
    a.weights = weights.data();
    a.word_weights = words.data();
    a.bias = bias.data();
    a.mult = mult.data();
    std::vector<double> best(tiers.size(), 1e30);
    for (int pass = 0; pass < 3; ++pass) {
      for (size_t i = 0; i < tiers.size(); ++i) {
        const ElementwiseKernels& k = ElementwiseForTier(tiers[i]);
        // as the conv step: the input unsplit where the tier's kernel takes it
        const bool unsplit = plan.split && k.depthwise_unsplit != nullptr && k.depthwise_unsplit(plan);
        a.unsplit = unsplit ? x.data() : nullptr;
        a.unsplit_stride = c.in_h * c.in_w;
        a.geom = &g;
        best[i] = std::min(best[i], BestSeconds(
                                        [&] {
                                          if (plan.split && !unsplit) {
                                            k.depthwise_split(x.data(), g, plan, c.channels, phases.data());
                                          }
                                          k.depthwise(a);
                                        },
                                        tiers[i] == KernelTier::kScalar ? 20 : 200));
      }
    }
    std::fprintf(out, "| %s |", c.label);
    for (double sec : best) std::fprintf(out, " %.3f |", sec * 1e9 / double(c.channels * g.out_h * g.out_w));
    std::fprintf(out, "\n");
  }
}

}  // namespace

int RunTierSweep(std::FILE* out) {
  std::vector<KernelTier> tiers;
  for (KernelTier t : kAllTiers)
    if (TierSupported(t)) tiers.push_back(t);
  const std::vector<Shape> shapes = {
      {"64x64x64", QGemmWeights::kRight, 64, 64, 64},
      {"256x256x256", QGemmWeights::kRight, 256, 256, 256},
      {"conv 64ch 32x32 3x3 (M=64 N=1024 K=576)", QGemmWeights::kLeft, 64, 1024, 576},
      {"pointwise conv, DS-CNN's (M=32 N=125 K=32)", QGemmWeights::kLeft, 32, 125, 32},
      {"expand conv, MobileNet block (M=64 N=256 K=16)", QGemmWeights::kLeft, 64, 256, 16},
      {"project conv, MobileNet block (M=16 N=256 K=64)", QGemmWeights::kLeft, 16, 256, 64},
      {"GEMV 1x1024x512", QGemmWeights::kRight, 1, 512, 1024},
  };
  std::fprintf(out, "int8 GEMM by kernel tier, GOP/s (2*M*N*K per second), best of 3 passes x 5-50 runs, one "
                    "thread. auto = %s here.\n\n",
               std::string(KernelTierName(BestSupportedTier())).c_str());
  PrintTierTableHeader(out, "shape", tiers);
  std::mt19937 rng(11);
  for (const Shape& s : shapes) {
    GemmProblem problem(s.weights, s.m, s.n, s.k, /*scattered=*/false, rng);
    const double ops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    std::vector<double> best(tiers.size(), 0.0);
    for (int pass = 0; pass < 3; ++pass) {
      for (size_t i = 0; i < tiers.size(); ++i) {
        // the scalar reference is slow: fewer runs
        const int repeats = tiers[i] == KernelTier::kScalar ? 5 : 50;
        best[i] = std::max(best[i], ops / BestSeconds(QGemmForTier(tiers[i]), problem.args, repeats));
      }
    }
    std::fprintf(out, "| %s |", s.label);
    for (double b : best) std::fprintf(out, " %.2f |", b / 1e9);
    std::fprintf(out, "\n");
  }
  PrintGemvBandwidth(out, tiers, rng);
  PrintDepthwiseSweep(out, tiers, rng);
  PrintElementwiseSweep(out, tiers);
  PrintFloatActivationSweep(out, tiers);
  return 0;
}

}  // namespace edge::engine::bench
