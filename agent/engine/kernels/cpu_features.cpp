#include "agent/engine/kernels/cpu_features.h"

#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdint>

namespace edge::engine {
namespace {

uint64_t ReadXcr0() {
  uint32_t eax = 0;
  uint32_t edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t{edx} << 32) | eax;
}

// Linux enables AMX tile data (XSAVE component 18, 8 KB of state) per process on request;
// without the permission the first tile instruction raises SIGILL.
bool RequestTileDataPermission() {
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
}

KernelTier DetectBestTier() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return KernelTier::kScalar;
  const bool osxsave = (ecx & (1u << 27)) != 0;
  const bool fma = (ecx & (1u << 12)) != 0;
  if (!osxsave) return KernelTier::kScalar;
  const uint64_t xcr0 = ReadXcr0();
  const bool ymm_state = (xcr0 & 0x6) == 0x6;
  const bool zmm_state = (xcr0 & 0xE6) == 0xE6;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return KernelTier::kScalar;
  const bool avx2 = (ebx & (1u << 5)) != 0;
  const bool avx512f = (ebx & (1u << 16)) != 0;
  const bool avx512dq = (ebx & (1u << 17)) != 0;
  const bool avx512bw = (ebx & (1u << 30)) != 0;
  const bool avx512vl = (ebx & (1u << 31)) != 0;
  const bool vnni = (ecx & (1u << 11)) != 0;
  const bool amx_tile = (edx & (1u << 24)) != 0;
  const bool amx_int8 = (edx & (1u << 25)) != 0;
  const bool tile_state = (xcr0 & (3u << 17)) == (3u << 17);
  if (!(avx2 && fma && ymm_state)) return KernelTier::kScalar;
  if (!(avx512f && avx512dq && avx512bw && avx512vl && vnni && zmm_state)) return KernelTier::kAvx2;
  // The AMX kernel's epilogue and small-problem fallback are AVX-512 VNNI code.
  if (amx_tile && amx_int8 && tile_state && RequestTileDataPermission()) return KernelTier::kAmx;
  return KernelTier::kAvx512Vnni;
}

}  // namespace

std::string_view KernelTierName(KernelTier tier) {
  switch (tier) {
    case KernelTier::kAuto: return "auto";
    case KernelTier::kScalar: return "scalar";
    case KernelTier::kAvx2: return "avx2";
    case KernelTier::kAvx512Vnni: return "avx512vnni";
    case KernelTier::kAmx: return "amx";
  }
  return "unknown";
}

bool ParseKernelTier(std::string_view text, KernelTier& tier) {
  for (KernelTier t : {KernelTier::kAuto, KernelTier::kScalar, KernelTier::kAvx2,
                       KernelTier::kAvx512Vnni, KernelTier::kAmx}) {
    if (text == KernelTierName(t)) {
      tier = t;
      return true;
    }
  }
  return false;
}

KernelTier BestSupportedTier() {
  static const KernelTier best = DetectBestTier();
  return best;
}

bool TierSupported(KernelTier tier) {
  return static_cast<int>(tier) <= static_cast<int>(BestSupportedTier());
}

KernelTier EffectiveTier(KernelTier requested) {
  if (requested == KernelTier::kAuto || !TierSupported(requested)) return BestSupportedTier();
  return requested;
}

}  // namespace edge::engine
