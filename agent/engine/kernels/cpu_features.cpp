#include "agent/engine/kernels/cpu_features.h"

#include <cstdint>

#if defined(__x86_64__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#elif defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace edge::engine {
namespace {

#if defined(__x86_64__)

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

// AVX-VNNI (the VEX-encoded 256-bit vpdpbusd): CPUID.(EAX=7,ECX=1):EAX bit 4.
bool HasAvxVnni() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0 || eax < 1) return false;
  __cpuid_count(7, 1, eax, ebx, ecx, edx);
  return (eax & (1u << 4)) != 0;
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
  if (!(avx512f && avx512dq && avx512bw && avx512vl && vnni && zmm_state)) {
    return HasAvxVnni() ? KernelTier::kAvxVnni : KernelTier::kAvx2;
  }
  // The AMX kernel's epilogue and small-problem fallback are AVX-512 VNNI code.
  if (amx_tile && amx_int8 && tile_state && RequestTileDataPermission()) return KernelTier::kAmx;
  return KernelTier::kAvx512Vnni;
}

bool IsNativeTier(KernelTier tier) { return tier >= KernelTier::kAvx2 && tier <= KernelTier::kAmx; }
bool CpuHasAvxVnni() {
  static const bool has = HasAvxVnni();
  return has;
}

#elif defined(__aarch64__)

KernelTier DetectBestTier() {
  // The bit values of the arm64 uapi's <asm/hwcap.h> (stable kernel ABI), spelled out so the
  // build does not depend on how new the installed kernel headers are.
  constexpr unsigned long kHwcapAsimd = 1ul << 1;
  constexpr unsigned long kHwcapAsimdDp = 1ul << 20;
  constexpr unsigned long kHwcap2I8mm = 1ul << 13;
  const unsigned long hwcap = getauxval(AT_HWCAP);
  const unsigned long hwcap2 = getauxval(AT_HWCAP2);
  if ((hwcap & kHwcapAsimd) == 0) return KernelTier::kScalar;
  if ((hwcap & kHwcapAsimdDp) == 0) return KernelTier::kNeon;
  // The i8mm kernel's small-problem path and epilogue use the dot-product tier's code.
  if ((hwcap2 & kHwcap2I8mm) == 0) return KernelTier::kNeonDot;
  return KernelTier::kI8mm;
}

bool IsNativeTier(KernelTier tier) { return tier >= KernelTier::kNeon && tier <= KernelTier::kI8mm; }
bool CpuHasAvxVnni() { return false; }

#else

KernelTier DetectBestTier() { return KernelTier::kScalar; }
bool IsNativeTier(KernelTier) { return false; }
bool CpuHasAvxVnni() { return false; }

#endif

}  // namespace

std::string_view KernelTierName(KernelTier tier) {
  switch (tier) {
    case KernelTier::kAuto: return "auto";
    case KernelTier::kScalar: return "scalar";
    case KernelTier::kAvx2: return "avx2";
    case KernelTier::kAvxVnni: return "avxvnni";
    case KernelTier::kAvx512Vnni: return "avx512vnni";
    case KernelTier::kAmx: return "amx";
    case KernelTier::kNeon: return "neon";
    case KernelTier::kNeonDot: return "neondot";
    case KernelTier::kI8mm: return "i8mm";
  }
  return "unknown";
}

bool ParseKernelTier(std::string_view text, KernelTier& tier) {
  if (text == KernelTierName(KernelTier::kAuto)) {
    tier = KernelTier::kAuto;
    return true;
  }
  for (KernelTier t : kAllTiers) {
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
  if (tier == KernelTier::kScalar) return true;
  if (!IsNativeTier(tier) || !IsNativeTier(BestSupportedTier())) return false;
  // avxvnni is the one tier a higher one does not imply (Ice Lake has AVX-512 VNNI without
  // AVX-VNNI): it needs its own feature, on top of the AVX2 tier the native best implies.
  if (tier == KernelTier::kAvxVnni) return CpuHasAvxVnni();
  return tier <= BestSupportedTier();
}

KernelTier EffectiveTier(KernelTier requested) {
  if (requested == KernelTier::kAuto || !TierSupported(requested)) return BestSupportedTier();
  return requested;
}

bool CpuHasAvx512Vbmi() {
#if defined(__x86_64__)
  static const bool vbmi = [] {
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
    return (ecx & (1u << 1)) != 0;
  }();
  return vbmi;
#else
  return false;
#endif
}

}  // namespace edge::engine
