// The one place that maps a kernel tier to its implementation.
#include <cpuid.h>

#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/kernels/qgemm.h"
#include "agent/engine/kernels/qgemm_amx.h"

namespace edge::engine {

QGemmFn QGemmForTier(KernelTier tier) {
  switch (EffectiveTier(tier)) {
    case KernelTier::kAmx: return &QGemmAmx;
    case KernelTier::kAvx512Vnni: return &QGemmAvx512Vnni;
    case KernelTier::kAvx2: return &QGemmAvx2;
    default: return &QGemmScalar;
  }
}

namespace {
bool HasAvx512Vbmi() {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx) == 0) return false;
  return (ecx & (1u << 1)) != 0;
}
}  // namespace

const ElementwiseKernels& ElementwiseForTier(KernelTier tier) {
  static const ElementwiseKernels scalar{&LutScalar,      &DepthwiseScalar,   &SplitDepthwisePhases,
                                         &QAddScalar,     &QuantizeScalar,    &Interleave4RowsU8,
                                         &InterleavePaddedU8, &Im2colRowsStride2U8};
  static const ElementwiseKernels avx2{&LutScalar,  &DepthwiseAvx2,     &SplitDepthwisePhases,
                                       &QAddScalar, &QuantizeScalar,    &Interleave4RowsU8,
                                       &InterleavePaddedU8, &Im2colRowsStride2U8};
  static const ElementwiseKernels avx512{HasAvx512Vbmi() ? &LutAvx512Vbmi : &LutScalar,
                                         &DepthwiseAvx512Vnni,
                                         &SplitDepthwisePhasesAvx512,
                                         &QAddAvx512,
                                         &QuantizeAvx512,
                                         &Interleave4Avx512,
                                         &InterleavePaddedAvx512,
                                         &Im2colRowsAvx512};
  const KernelTier effective = EffectiveTier(tier);
  if (effective >= KernelTier::kAvx512Vnni) return avx512;  // the AMX tier too
  return effective == KernelTier::kAvx2 ? avx2 : scalar;
}

}  // namespace edge::engine
