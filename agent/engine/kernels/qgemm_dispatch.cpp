// The one place that maps a kernel tier to its implementation.
#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {

QGemmFn QGemmForTier(KernelTier tier) {
  switch (EffectiveTier(tier)) {
    case KernelTier::kAvx512Vnni: return &QGemmAvx512Vnni;
    case KernelTier::kAvx2: return &QGemmAvx2;
    default: return &QGemmScalar;
  }
}

}  // namespace edge::engine
