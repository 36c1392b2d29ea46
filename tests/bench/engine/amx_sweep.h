#pragma once

#include <cstdio>

namespace edge::engine::bench {

// Prints a Markdown table: the AVX-512 VNNI kernel against the AMX tile kernel on conv- and
// Gemm-shaped problems around the tile sizes, timed interleaved, to place AmxPays' crossover.
int RunAmxCrossover(std::FILE* out);

}  // namespace edge::engine::bench
