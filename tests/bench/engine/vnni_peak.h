// Measured peaks of the multiply-add instructions on this core: the VNNI one is the yardstick
// of the GEMM sweep; the others show what each kernel tier, and ONNX Runtime's fp32 kernels,
// can reach at best here.
#pragma once

#include <cstdint>

namespace edge::engine::bench {

// Runs 16 independent vpdpbusd chains for `iterations` x 16 instructions and returns
// int8 operations per second (one vpdpbusd on zmm = 64 multiply-adds = 128 ops).
double MeasureVnniPeakOpsPerSecond(int64_t iterations);

// Multiply-adds per second (one int8 x int8 or fp32 x fp32 product added to a sum), each from
// 12 independent chains of the instruction (or pair) for `iterations` x 12; 0 where the CPU
// lacks it. Needs AVX2 (and FMA).
struct MultiplyAddPeaks {
  double avx2 = 0;        // vpmaddwd + vpaddd ymm: the AVX2 tier's int8 step, 16 per pair
  double avxvnni = 0;     // {vex} vpdpbusd ymm: the AVX-VNNI tier's, 32 per instruction
  double fma_zmm = 0;     // vfmadd231ps zmm: fp32 GEMMs on AVX-512 (ONNX Runtime's here), 16
  double fma_ymm = 0;     // vfmadd231ps ymm: fp32 GEMMs on an AVX2-only CPU, 8
};
MultiplyAddPeaks MeasureMultiplyAddPeaks(int64_t iterations);

}  // namespace edge::engine::bench
