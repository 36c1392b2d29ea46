// The layout side of the depthwise kernel, shared by every tier: which byte each tap of each
// output reads, and the stride-phase split of the input (128-bit vectors of kernels/simd128.h).
#include <algorithm>
#include <cstring>
#include <limits>

#include "agent/engine/kernels/depthwise.h"
#include "agent/engine/kernels/simd128.h"

namespace edge::engine {
namespace {

// The output rows (columns) whose every tap row (column) is inside the input: an interval,
// since each tap's valid range is one. Empty intervals are [0, 0).
void SetInterior(const ConvGeometry& g, DepthwisePlan& p) {
  auto inside = [](int64_t o, int64_t stride, int64_t first, int64_t step, int64_t count, int64_t size) {
    const int64_t lo = o * stride + first, hi = lo + (count - 1) * step;
    return lo >= 0 && hi < size;
  };
  auto interval = [&](int64_t n, int64_t stride, int64_t first, int64_t step, int64_t count, int64_t size,
                      int64_t& begin, int64_t& end) {
    begin = end = 0;
    for (int64_t o = 0; o < n; ++o) {
      if (!inside(o, stride, first, step, count, size)) continue;
      if (end == 0) begin = o;
      end = o + 1;
    }
  };
  interval(g.out_h, g.stride_h, -g.pad_top, g.dilation_h, g.kernel_h, g.in_h, p.row_begin, p.row_end);
  interval(g.out_w, g.stride_w, -g.pad_left, g.dilation_w, g.kernel_w, g.in_w, p.col_begin, p.col_end);
}

// The first n (0 to 8) bytes of v.
inline void StoreFirstBytes(int8_t* dst, simd128::U8x16 v, int64_t n) {
  using namespace simd128;
  if (n >= 4) {
    Store4(dst, v);
    v = ShiftDownBytes<4>(v);
    dst += 4;
    n -= 4;
  }
  if (n == 4) {
    Store4(dst, v);
    return;
  }
  for (; n > 0; --n, ++dst) {
    *dst = static_cast<int8_t>(FirstByte(v));
    v = ShiftDownBytes<1>(v);
  }
}

// One input row into its sw column phases (row phase_row of column phase 0; column phase cp
// is cp * phase_stride further).
void SplitRow(const int8_t* row, int64_t iw, int64_t sw, int64_t phase_stride, int8_t* phase_row) {
  if (sw == 1) {
    std::memcpy(phase_row, row, static_cast<size_t>(iw));
    return;
  }
  int64_t ix = 0;
  if (sw == 2) {
    using namespace simd128;
    // 32 input bytes -> 16 even-column and 16 odd-column bytes
    for (; ix + 32 <= iw; ix += 32) {
      const U8x16 a = Load16(row + ix), b = Load16(row + ix + 16);
      const U8x16 even = EvenBytes(a, b), odd = OddBytes(a, b);
      Store16(phase_row + ix / 2, even);
      Store16(phase_row + phase_stride + ix / 2, odd);
    }
    // 16 input bytes -> 8 even-column and 8 odd-column bytes
    for (; ix + 16 <= iw; ix += 16) {
      const U8x16 v = Load16(row + ix);
      const U8x16 even = EvenBytes(v, v), odd = OddBytes(v, v);
      Store8(phase_row + ix / 2, even);
      Store8(phase_row + phase_stride + ix / 2, odd);
    }
    // The last 1-15 bytes from one 16-byte load (up to 15 bytes past the row: the readable
    // slack after every tensor), stored exactly: a phase row's next bytes may already be
    // another phase's.
    if (ix < iw) {
      const U8x16 v = Load16(row + ix);
      const int64_t rest = iw - ix;
      StoreFirstBytes(phase_row + ix / 2, EvenBytes(v, v), (rest + 1) / 2);
      StoreFirstBytes(phase_row + phase_stride + ix / 2, OddBytes(v, v), rest / 2);
      return;
    }
  }
  for (int64_t cp = 0, col = ix / sw; ix < iw; ++ix) {  // ix % sw == 0 here
    phase_row[cp * phase_stride + col] = row[ix];
    if (++cp == sw) {
      cp = 0;
      ++col;
    }
  }
}

// The real taps in the order of their source offsets (ties in tap order).
std::vector<int> TapsByOffset(const DepthwisePlan& p) {
  std::vector<int> order(static_cast<size_t>(p.real_taps));
  for (int t = 0; t < p.real_taps; ++t) order[static_cast<size_t>(t)] = t;
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return p.offsets[x] < p.offsets[y]; });
  return order;
}

// Groups taps whose offsets fall within 4 consecutive bytes (sorted, greedily from the lowest
// offset) and derives each group's masks per lane phase from the taps' masks. Kept only where
// it costs fewer instructions: per 64 outputs a group is 4 loads and 4 dot products, while the
// per-tap form spends about 6 instructions per tap (load, fill, shift, shuffles, 1/4 dot).
void SetWordGroups(DepthwisePlan& p) {
  // word_taps holds tap indexes as int8_t: more than 127 taps need more groups than are offered
  static_assert(4 * kMaxDepthwiseWords <= 128);
  const std::vector<int> order = TapsByOffset(p);
  std::vector<int64_t> offsets;
  std::vector<int8_t> taps;
  for (size_t i = 0; i < order.size();) {
    const int64_t base = p.offsets[order[i]];
    offsets.push_back(base);
    taps.insert(taps.end(), 4, -1);
    for (; i < order.size() && p.offsets[order[i]] - base < 4; ++i) {
      int8_t& slot = taps[taps.size() - 4 + static_cast<size_t>(p.offsets[order[i]] - base)];
      if (slot >= 0) break;  // two taps on one byte (not from a valid conv): next group
      slot = static_cast<int8_t>(order[i]);
    }
  }
  const int words = static_cast<int>(offsets.size());
  if (words > kMaxDepthwiseWords || 8 * words >= 3 * p.taps) return;
  p.words = words;
  p.word_offsets = std::move(offsets);
  p.word_taps = std::move(taps);
  p.word_masks.assign(static_cast<size_t>(p.blocks * words * 4), 0);
  for (int64_t b = 0; b < p.blocks; ++b) {
    for (int w = 0; w < words; ++w) {
      for (int s = 0; s < 4; ++s) {
        uint64_t mask = 0;
        for (int i = 0; i < 16; ++i) {
          const int64_t q = 4 * i + s;  // within the block
          if (b * kDepthwiseBlock + q >= p.grid) continue;
          for (int j = 0; j < 4; ++j) {
            const int t = p.word_taps[static_cast<size_t>(4 * w + j)];
            if (t >= 0 && ((p.masks[static_cast<size_t>(b * p.taps + t)] >> q) & 1) != 0) {
              mask |= uint64_t{1} << (4 * i + j);
            }
          }
        }
        p.word_masks[static_cast<size_t>((b * words + w) * 4 + s)] = mask;
      }
    }
  }
  const int64_t steps = (p.grid + 31) / 32;
  p.word_lane_masks.assign(static_cast<size_t>(steps * words * 4 * 32), 0);
  for (int64_t k = 0; k < steps; ++k) {
    for (int64_t ws = 0; ws < words * 4; ++ws) {  // (word, lane phase)
      const uint64_t bits = p.word_masks[static_cast<size_t>((k / 2) * words * 4 + ws)] >> (32 * (k % 2));
      for (int i = 0; i < 32; ++i) {
        if (((bits >> i) & 1) != 0) p.word_lane_masks[static_cast<size_t>((k * words * 4 + ws) * 32 + i)] = 0xFF;
      }
    }
  }
}

// The gapped rows' layout (GappedRows, all but `avx2`) for pair slots `slot_taps`, or false
// where the form does not apply: output rows under 8 (a unit would be more than half waste), a
// pair whose taps are not neighbours in one phase row of the copy, a copy of one band of output
// rows past the kernel's buffer. `copied`: input rows copied per channel over all bands.
bool LayGappedRows(const ConvGeometry& g, const DepthwisePlan& p, const std::vector<int8_t>& slot_taps,
                   GappedRows& out, int64_t* copied) {
  if (g.out_w < 8) return false;
  const int64_t sh = g.stride_h, sw = g.stride_w;
  struct Tap {
    int64_t phase, row, col;
  };
  const auto tap = [&](int t) {
    const int64_t a = (t / g.kernel_w) * g.dilation_h - g.pad_top, b = (t % g.kernel_w) * g.dilation_w - g.pad_left;
    const int64_t row = FloorDiv(a, sh), col = FloorDiv(b, sw);
    return Tap{(a - row * sh) * sw + (b - col * sw), row, col};
  };
  int64_t row_min = 0, row_max = 0, col_min = 0, col_max = 0;
  for (int t = 0; t < p.real_taps; ++t) {
    const Tap x = tap(t);
    row_min = std::min(row_min, x.row);
    row_max = std::max(row_max, x.row);
    col_min = std::min(col_min, x.col);
    col_max = std::max(col_max, x.col);
  }
  // A slot's second value is its partner tap, one column on in the same phase row.
  const size_t slots = slot_taps.size() / 2;
  for (size_t s = 0; s < slots; ++s) {
    if (slot_taps[2 * s + 1] < 0) continue;
    const Tap x = tap(slot_taps[2 * s]), y = tap(slot_taps[2 * s + 1]);
    if (y.phase != x.phase || y.row != x.row || y.col != x.col + 1) return false;
  }
  // A unit starting at ox0 <= max(out_w, 16) - 16 reads columns ox0 + col .. ox0 + col + 16 of a
  // slot's phase row, and rows oy + row: zeros wherever a valid output's read is outside the
  // phase's values (a narrow row's unit computes 16 - out_w outputs more, from any values).
  GappedRows l;
  const int64_t phase_cols = (g.in_w + sw - 1) / sw;
  l.left = -col_min;
  l.top = -row_min;
  l.pitch = l.left + std::max(phase_cols, std::max<int64_t>(g.out_w, 16) + col_max + 1);
  // A band of b output rows reads phase rows row_min .. b - 1 + row_max from its first: the
  // most rows whose copy fits the buffer.
  const int64_t per_row = (g.out_w + 15) / 16;
  // (the copy: sh * sw phases of top + band + row_max rows of the pitch, and 16 values of slack)
  const int64_t fit = (kMaxSlotCanvas - 16) / (sh * sw * l.pitch) - l.top - row_max;
  l.band = std::min({g.out_h, kMaxGapUnits / per_row, fit});
  if (l.band <= 0) return false;
  l.phase_rows = l.top + l.band + row_max;
  l.canvas = sh * sw * l.phase_rows * l.pitch + 16;
  l.taps = slot_taps;
  *copied = (g.out_h + l.band - 1) / l.band * l.phase_rows;
  for (size_t s = 0; s < slots; ++s) {
    const Tap x = tap(slot_taps[2 * s]);
    l.offsets.push_back(x.phase * l.phase_rows * l.pitch + (l.top + x.row) * l.pitch + l.left + x.col);
  }
  out = std::move(l);
  return true;
}

// Pairs taps whose offsets differ by one (sorted, greedily from the lowest offset), a tap
// without a partner alone, and derives the slots' int16 masks from the taps' masks; lays out
// the gapped rows where the AVX2 kernel takes them.
void SetPairSlots(const ConvGeometry& g, DepthwisePlan& p, int64_t source_len) {
  // slot_taps holds tap indexes as int8_t: more than 64 taps need more slots than are offered
  static_assert(2 * kMaxDepthwiseSlots <= 128);
  const std::vector<int> order = TapsByOffset(p);
  std::vector<int64_t> offsets;
  std::vector<int8_t> taps;
  for (size_t i = 0; i < order.size();) {
    const int a = order[i];
    const bool pair = i + 1 < order.size() && p.offsets[order[i + 1]] == p.offsets[a] + 1;
    offsets.push_back(p.offsets[a]);
    taps.push_back(static_cast<int8_t>(a));
    taps.push_back(static_cast<int8_t>(pair ? order[i + 1] : -1));
    i += pair ? 2 : 1;
  }
  const int slots = static_cast<int>(offsets.size());
  if (slots > kMaxDepthwiseSlots) return;
  const int64_t steps = (p.grid + 31) / 32 * 2;  // of 16 outputs, an even count
  // reads: [q0 + parity + offset, +16) for q0 < 16 * steps
  const int64_t lo = *std::min_element(offsets.begin(), offsets.end());
  const int64_t hi = 16 * steps + 1 + *std::max_element(offsets.begin(), offsets.end()) + 16;
  const int64_t canvas = std::max<int64_t>(0, -lo) + std::max(source_len, hi);
  // The AVX2 tier's forms, by instruction estimates. Masked slots where they cost fewer than
  // the per-tap form (measured on the zoo's 3x3 convs: ~12 per slot and 32 outputs, ~18 per
  // pair of taps there) with the copy of the source values the slots read (~4 per 16); not for
  // stride-2 planes of a few rows, whose phases are 4x the outputs (MobileNet's 8x8 one: 16 %
  // slower). Every form requantizes 32 outputs with ~24 more. The gapped rows: per pair of
  // 16-output units a slot is four vpmaddwd (each reading its values) and four vpaddd, and the
  // copy is the whole source; rows of 17-31 outputs compute two overlapping units (the
  // MobileNet block's 16 x 16 3x3: 0.42 -> 0.38 ns per output, efflite_swish's 20 x 28 5x5
  // -24 % and 40 x 56 3x3 -20 %, Zen 4).
  const int64_t read_begin = std::max<int64_t>(0, lo), read_end = std::min(source_len, hi);
  const int64_t steps32 = (p.grid + 31) / 32;
  const int64_t per_tap = steps32 * (((p.real_taps + 1) / 2) * 18 + 24);
  const bool masked = canvas <= kMaxSlotCanvas && read_begin < read_end;
  const int64_t per_slot = masked ? steps32 * (slots * 12 + 24) + (read_end - read_begin + 15) / 16 * 4
                                  : std::numeric_limits<int64_t>::max();
  int64_t copied = 0;
  if (LayGappedRows(g, p, taps, p.gap, &copied)) {
    // (the copy: each band's rows of every phase, ~4 per 16 values)
    const int64_t copy = copied * p.pitch * g.stride_h * g.stride_w;
    const int64_t units = g.out_h * ((g.out_w + 15) / 16);
    const int64_t per_gapped = (units + 1) / 2 * (slots * 8 + 28) + (copy + 15) / 16 * 4;
    // Against the per-tap form on a split plan, with its split pass (~3 per 16 bytes; the
    // masked slots' estimate above leaves it out, as measured: MobileNet's 8 x 8 stride-2 conv
    // stays on the per-tap form): MobileNetV2-224's 112 x 112 stride-2 3x3 0.61 -> 0.53 ns per
    // output in gapped rows, Zen 4.
    const int64_t split = p.split ? (p.phase_bytes + 15) / 16 * 3 : 0;
    p.gap.avx2 = per_gapped < std::min(per_slot, per_tap + split);
  }
  if (!masked || per_slot >= per_tap) return;
  p.slots = slots;
  p.slot_offsets = std::move(offsets);
  p.slot_taps = std::move(taps);
  p.slot_front = std::max<int64_t>(0, -lo);
  p.slot_canvas = canvas;
  p.slot_read_begin = read_begin;
  p.slot_read_end = read_end;
  p.slot_masks.assign(static_cast<size_t>(steps * slots * 2 * 16), 0);
  for (int64_t k = 0; k < steps; ++k) {
    for (int s = 0; s < slots; ++s) {
      for (int parity = 0; parity < 2; ++parity) {
        int16_t* lanes = p.slot_masks.data() + ((k * slots + s) * 2 + parity) * 16;
        for (int i = 0; i < 8; ++i) {
          const int64_t q = 16 * k + 2 * i + parity;
          for (int j = 0; j < 2; ++j) {
            const int t = p.slot_taps[static_cast<size_t>(2 * s + j)];
            if (q < p.grid && t >= 0 && ((p.masks[(q / kDepthwiseBlock) * p.taps + t] >> (q % kDepthwiseBlock)) & 1) != 0) {
              lanes[2 * i + j] = -1;
            }
          }
        }
      }
    }
  }
}

}  // namespace

DepthwisePlan MakeDepthwisePlan(const ConvGeometry& g) {
  DepthwisePlan p;
  const int64_t sh = g.stride_h, sw = g.stride_w;
  p.pitch = std::max((g.in_w + sw - 1) / sw, g.out_w);
  // Stride 1 reads the input in place when its rows already have the grid's pitch.
  p.split = sh != 1 || sw != 1 || p.pitch != g.in_w;
  p.phase_rows = (g.in_h + sh - 1) / sh;
  p.phase_bytes = p.split ? sh * sw * p.phase_rows * p.pitch : 0;
  if (p.split) {
    p.row_phase_read.assign(static_cast<size_t>(sh), 0);
    for (int64_t ky = 0; ky < g.kernel_h; ++ky) {
      const int64_t a = ky * g.dilation_h - g.pad_top;
      p.row_phase_read[static_cast<size_t>(a - FloorDiv(a, sh) * sh)] = 1;
    }
  }
  p.grid = g.out_h * p.pitch;
  p.blocks = (p.grid + kDepthwiseBlock - 1) / kDepthwiseBlock;
  p.direct = p.pitch == g.out_w;
  const int64_t real_taps = g.kernel_h * g.kernel_w;
  p.taps = static_cast<int>((real_taps + 3) / 4 * 4);
  p.real_taps = static_cast<int>(real_taps);
  p.offsets.assign(static_cast<size_t>(p.taps), 0);
  p.masks.assign(static_cast<size_t>(p.blocks * p.taps), 0);
  for (int64_t t = 0; t < real_taps; ++t) {
    const int64_t a = (t / g.kernel_w) * g.dilation_h - g.pad_top;  // input row of output row 0
    const int64_t b = (t % g.kernel_w) * g.dilation_w - g.pad_left;  // input column of output column 0
    if (p.split) {
      const int64_t row = FloorDiv(a, sh), col = FloorDiv(b, sw);
      const int64_t phase = (a - row * sh) * sw + (b - col * sw);
      p.offsets[t] = phase * p.phase_rows * p.pitch + row * p.pitch + col;
    } else {
      p.offsets[t] = a * p.pitch + b;
    }
    for (int64_t q = 0; q < p.grid; ++q) {
      const int64_t oy = q / p.pitch, ox = q % p.pitch;
      const int64_t iy = oy * sh + a, ix = ox * sw + b;
      if (ox < g.out_w && iy >= 0 && iy < g.in_h && ix >= 0 && ix < g.in_w) {
        p.masks[(q / kDepthwiseBlock) * p.taps + t] |= uint64_t{1} << (q % kDepthwiseBlock);
      }
    }
  }
  const int64_t steps = (p.grid + 31) / 32;
  p.lane_masks.assign(static_cast<size_t>(steps * p.taps * 32), 0);
  for (int64_t q = 0; q < p.grid; ++q) {
    for (int t = 0; t < p.taps; ++t) {
      if (((p.masks[(q / kDepthwiseBlock) * p.taps + t] >> (q % kDepthwiseBlock)) & 1) != 0) {
        p.lane_masks[static_cast<size_t>(((q / 32) * p.taps + t) * 32 + q % 32)] = 0xFF;
      }
    }
  }
  SetInterior(g, p);
  SetWordGroups(p);
  SetPairSlots(g, p, p.split ? p.phase_bytes : g.in_h * g.in_w);
  p.geom = g;
  return p;
}

std::vector<int32_t> PackDepthwiseWords(const DepthwisePlan& plan, const int8_t* weights, int64_t channels) {
  std::vector<int32_t> words(static_cast<size_t>(channels * plan.words));
  for (int64_t c = 0; c < channels; ++c) {
    for (int g = 0; g < plan.words; ++g) {
      uint32_t word = 0;
      for (int j = 0; j < 4; ++j) {
        const int t = plan.word_taps[static_cast<size_t>(4 * g + j)];
        if (t >= 0) word |= uint32_t{static_cast<uint8_t>(weights[c * plan.taps + t])} << (8 * j);
      }
      words[static_cast<size_t>(c * plan.words + g)] = static_cast<int32_t>(word);
    }
  }
  return words;
}

void SplitDepthwisePhases(const int8_t* x, const ConvGeometry& g, const DepthwisePlan& plan, int64_t channels,
                          int8_t* phases) {
  const int64_t sh = g.stride_h, sw = g.stride_w, iw = g.in_w, pitch = plan.pitch;
  const int64_t phase_stride = plan.phase_rows * pitch;  // from one column phase to the next
  // Stride-2 columns of a 16-byte row fill 8-byte phase rows; when the phase pitch is exactly
  // that, rows r and r + 1 of a phase are adjacent, so two same-phase input rows make one
  // 16-byte store per column phase (MobileNet's 16x16 planes: half the stores of a row each).
  const bool pair_rows = sw == 2 && iw == 16 && pitch == 8;
  for (int64_t c = 0; c < channels; ++c) {
    const int8_t* plane = x + c * g.in_h * iw;
    int8_t* dst = phases + c * plan.phase_bytes;
    // Input row iy = r * sh + rp goes to row r of row phase rp (if a kernel row reads it).
    for (int64_t rp = 0; rp < sh; ++rp) {
      if (plan.row_phase_read[static_cast<size_t>(rp)] == 0) continue;
      const int64_t rows = (g.in_h - rp + sh - 1) / sh;
      int8_t* phase_row = dst + rp * sw * phase_stride;  // column phase 0, row 0
      const int8_t* row = plane + rp * iw;
      int64_t r = 0;
      if (pair_rows) {
        using namespace simd128;
        for (; r + 2 <= rows; r += 2, row += 2 * sh * iw, phase_row += 2 * pitch) {
          const U8x16 a = Load16(row), b = Load16(row + sh * iw);
          const U8x16 even = EvenBytes(a, b), odd = OddBytes(a, b);
          Store16(phase_row, even);
          Store16(phase_row + phase_stride, odd);
        }
      }
      for (; r < rows; ++r, row += sh * iw, phase_row += pitch) SplitRow(row, iw, sw, phase_stride, phase_row);
    }
  }
}

}  // namespace edge::engine
