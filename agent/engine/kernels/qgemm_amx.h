// AMX tier of the int8 matrix kernel (kernels/qgemm_amx.cpp), reached through QGemmForTier.
// It reads the same packed operands as the other tiers: the right operand's [kp/4][np][4]
// layout is already the 4-row VNNI grouping a tile multiply wants for its second source, and
// the left operand's [m][kp] rows load as the first source with a stride of kp.
#pragma once

#include "agent/engine/kernels/qgemm.h"

namespace edge::engine {

// Whether a problem is large enough for tiles to beat the AVX-512 VNNI kernel, counting the
// tile configuration, partial-tile staging and the int32 round trip of the epilogue.
bool AmxPays(const QGemmArgs& args);

// Tiles where AmxPays, the AVX-512 VNNI kernel otherwise. Needs KernelTier::kAmx supported.
void QGemmAmx(const QGemmArgs& args);

// Tiles for every shape (tests of the tile path; the benchmark's crossover measurement).
void QGemmAmxTiles(const QGemmArgs& args);

}  // namespace edge::engine
