// Measured peak of the AMX int8 tile multiply on this core, the AMX yardstick of the sweeps.
#pragma once

#include <cstdint>

namespace edge::engine::bench {

// Runs 4 independent tdpbusd chains (16 x 16 int32 accumulators, 64-deep) for `iterations`
// x 4 instructions and returns int8 operations per second (one tdpbusd = 16384 multiply-adds).
// Requires KernelTier::kAmx to be supported (which also obtained the OS permission).
double MeasureAmxPeakOpsPerSecond(int64_t iterations);

}  // namespace edge::engine::bench
