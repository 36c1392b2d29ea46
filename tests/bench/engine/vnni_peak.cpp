#include "tests/bench/engine/vnni_peak.h"

#include <algorithm>
#include <chrono>

#include "agent/engine/kernels/cpu_features.h"

namespace edge::engine::bench {

// Written in assembly: the compiler spills an array of 24 accumulators, which would measure
// stores instead of the multiply-accumulate unit. 16 independent chains cover the latency.
double MeasureVnniPeakOpsPerSecond(int64_t iterations) {
  int64_t n = iterations;
  const auto start = std::chrono::steady_clock::now();
  __asm__ volatile(
      "vpxord %%zmm16, %%zmm16, %%zmm16\n\t"
      "vpxord %%zmm17, %%zmm17, %%zmm17\n\t"
      "1:\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm0\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm1\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm2\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm3\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm4\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm5\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm6\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm7\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm8\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm9\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm10\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm11\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm12\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm13\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm14\n\t"
      "vpdpbusd %%zmm16, %%zmm17, %%zmm15\n\t"
      "dec %0\n\t"
      "jnz 1b\n\t"
      "vzeroupper\n\t"
      : "+r"(n)
      :
      : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
        "xmm11", "xmm12", "xmm13", "xmm14", "xmm15", "xmm16", "xmm17", "cc");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(iterations) * 16.0 * 128.0 / seconds;
}

namespace {

// 12 independent chains of INSTR per iteration (INSTR(r): the instruction, or pair, that adds
// into register r from the operand register 14), in one asm block for the reason above.
#define EDGE_CHAINS_12(INSTR)                                                                       \
  INSTR("0") INSTR("1") INSTR("2") INSTR("3") INSTR("4") INSTR("5") INSTR("6") INSTR("7") INSTR("8") \
      INSTR("9") INSTR("10") INSTR("11")
#define EDGE_MADD_YMM(r) "vpmaddwd %%ymm14, %%ymm14, %%ymm15\n\tvpaddd %%ymm15, %%ymm" r ", %%ymm" r "\n\t"
#define EDGE_DPBUSD_YMM(r) "%{vex%} vpdpbusd %%ymm14, %%ymm14, %%ymm" r "\n\t"
#define EDGE_FMA_ZMM(r) "vfmadd231ps %%zmm14, %%zmm14, %%zmm" r "\n\t"
#define EDGE_FMA_YMM(r) "vfmadd231ps %%ymm14, %%ymm14, %%ymm" r "\n\t"
// Zeroes register r (the VEX xmm form clears the whole ymm/zmm register, on any AVX CPU).
#define EDGE_ZERO(r) "vpxor %%xmm" r ", %%xmm" r ", %%xmm" r "\n\t"
// A function timing `iterations` rounds of the 12 chains, from zeroed registers, in seconds.
#define EDGE_TIMED_CHAINS(NAME, INSTR)                                                              \
  double NAME(int64_t iterations) {                                                                 \
    int64_t n = iterations;                                                                         \
    const auto start = std::chrono::steady_clock::now();                                           \
    __asm__ volatile(EDGE_CHAINS_12(EDGE_ZERO) EDGE_ZERO("14") EDGE_ZERO("15")                         \
                     "1:\n\t" EDGE_CHAINS_12(INSTR) "dec %0\n\t"                                     \
                     "jnz 1b\n\t"                                                                   \
                     "vzeroupper\n\t"                                                               \
                     : "+r"(n)                                                                      \
                     :                                                                              \
                     : "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9",  \
                       "xmm10", "xmm11", "xmm14", "xmm15", "cc");                                   \
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();        \
  }
EDGE_TIMED_CHAINS(TimeMaddYmm, EDGE_MADD_YMM)
EDGE_TIMED_CHAINS(TimeDpbusdYmm, EDGE_DPBUSD_YMM)
EDGE_TIMED_CHAINS(TimeFmaZmm, EDGE_FMA_ZMM)
EDGE_TIMED_CHAINS(TimeFmaYmm, EDGE_FMA_YMM)

}  // namespace

MultiplyAddPeaks MeasureMultiplyAddPeaks(int64_t iterations) {
  const double instructions = static_cast<double>(iterations) * 12.0;
  MultiplyAddPeaks p;
  // The ymm forms first: on CPUs that lower their clock after 512-bit work (some Xeons), the
  // zmm loop would slow the ymm ones timed after it.
  p.avx2 = 16.0 * instructions / TimeMaddYmm(iterations);
  p.fma_ymm = 8.0 * instructions / TimeFmaYmm(iterations);
  if (TierSupported(KernelTier::kAvxVnni)) p.avxvnni = 32.0 * instructions / TimeDpbusdYmm(iterations);
  if (__builtin_cpu_supports("avx512f")) p.fma_zmm = 16.0 * instructions / TimeFmaZmm(iterations);
  return p;
}

}  // namespace edge::engine::bench
