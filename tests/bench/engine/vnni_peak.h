// Measured peak of the VNNI instruction on this core, the yardstick of the GEMM sweep.
#pragma once

#include <cstdint>

namespace edge::engine::bench {

// Runs 16 independent vpdpbusd chains for `iterations` x 16 instructions and returns
// int8 operations per second (one vpdpbusd on zmm = 64 multiply-adds = 128 ops).
double MeasureVnniPeakOpsPerSecond(int64_t iterations);

}  // namespace edge::engine::bench
