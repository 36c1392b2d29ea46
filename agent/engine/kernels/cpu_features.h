// Run-time CPU dispatch: which kernel tiers this CPU can execute.
#pragma once

#include <string_view>

namespace edge::engine {

// Ordered from least to most capable; a tier implies every tier below it.
enum class KernelTier { kAuto = -1, kScalar = 0, kAvx2 = 1, kAvx512Vnni = 2, kAmx = 3 };

std::string_view KernelTierName(KernelTier tier);
// Parses "scalar", "avx2", "avx512vnni", "amx" or "auto"; returns false on anything else.
bool ParseKernelTier(std::string_view text, KernelTier& tier);

// The best tier this CPU (and OS, for the AVX-512 and AMX register state) supports. kAmx
// needs AMX-TILE and AMX-INT8, XCR0's tile bits and the kernel's per-process permission for
// tile data (arch_prctl ARCH_REQ_XCOMP_PERM, Linux >= 5.16), which the first call requests.
KernelTier BestSupportedTier();
bool TierSupported(KernelTier tier);
// kAuto -> BestSupportedTier(); an unsupported explicit tier -> the best supported tier below it.
KernelTier EffectiveTier(KernelTier requested);

}  // namespace edge::engine
