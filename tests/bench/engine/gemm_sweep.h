#pragma once

#include <cstdio>

namespace edge::engine::bench {

// Prints a Markdown table: square int8 GEMMs through the AVX-512 VNNI kernel (and AVX2, and the
// AMX tile kernel where available), GOP/s and share of the measured VNNI (and AMX) peak.
int RunGemmSweep(std::FILE* out);

}  // namespace edge::engine::bench
