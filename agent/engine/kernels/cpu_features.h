// Run-time CPU dispatch: which kernel tiers this CPU can execute.
#pragma once

#include <string_view>

namespace edge::engine {

// Each architecture's tiers are ordered from least to most capable, and a tier implies every
// tier of its architecture below it except avxvnni; kScalar (the specification) runs everywhere.
//   x86-64: avx2 (AVX2 + FMA), avxvnni (AVX2 + FMA + AVX-VNNI: the VEX-encoded 256-bit
//           vpdpbusd of CPUs without AVX-512 such as Alder Lake and later cores, their E-cores,
//           the Atom N-series; also Zen 5 and Sapphire Rapids, but not Ice Lake or Cascade
//           Lake, whose VNNI is AVX-512 only), avx512vnni (AVX-512 F/BW/VL/DQ + VNNI), amx
//           (AMX-TILE/INT8)
//   arm64:  neon (Advanced SIMD: Cortex-A72, Raspberry Pi 4), neondot (+ dot product, SDOT:
//           Cortex-A76/A78, Pi 5, Jetson Orin), i8mm (+ int8 matrix multiply, USMMLA: Neoverse
//           V1/N2, Graviton 3, Cortex-A710 and later)
enum class KernelTier {
  kAuto = -1,
  kScalar = 0,
  kAvx2 = 1,
  kAvxVnni = 2,
  kAvx512Vnni = 3,
  kAmx = 4,
  kNeon = 5,
  kNeonDot = 6,
  kI8mm = 7,
};

// Every tier, kScalar first (the order of the test runs and of `edge-model info`).
inline constexpr KernelTier kAllTiers[] = {KernelTier::kScalar, KernelTier::kAvx2, KernelTier::kAvxVnni,
                                           KernelTier::kAvx512Vnni, KernelTier::kAmx, KernelTier::kNeon,
                                           KernelTier::kNeonDot, KernelTier::kI8mm};

std::string_view KernelTierName(KernelTier tier);
// Parses "scalar", "avx2", "avxvnni", "avx512vnni", "amx", "neon", "neondot", "i8mm" or
// "auto"; returns false on anything else.
bool ParseKernelTier(std::string_view text, KernelTier& tier);

// The best tier this CPU (and OS) supports (avxvnni only where there is no avx512vnni). On
// x86-64, kAmx needs AMX-TILE and AMX-INT8, XCR0's tile bits and the kernel's per-process
// permission for tile data (arch_prctl ARCH_REQ_XCOMP_PERM, Linux >= 5.16), which the first
// call requests. On arm64 the features
// come from the kernel's hwcaps (getauxval AT_HWCAP/AT_HWCAP2: asimd, asimddp, i8mm).
KernelTier BestSupportedTier();
// True for kScalar and for the tiers of this architecture up to BestSupportedTier() (kAvxVnni:
// where the CPU has AVX-VNNI, whatever the best tier); a tier of another architecture is never
// supported.
bool TierSupported(KernelTier tier);
// kAuto -> BestSupportedTier(); an unsupported explicit tier (one this CPU lacks, or another
// architecture's) -> BestSupportedTier().
KernelTier EffectiveTier(KernelTier requested);

// The AVX-512 tier's byte lookups use VBMI's vpermb where the CPU has it (x86-64 only).
bool CpuHasAvx512Vbmi();

}  // namespace edge::engine
