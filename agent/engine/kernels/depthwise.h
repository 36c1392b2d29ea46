// int8 depthwise convolution (one input and one output channel per group), computed directly
// on the strided output grid: no padded copy, no im2col, no wasted outputs.
//
// Output pixel (oy, ox) of tap (ky, kx) reads input (oy*sh - pad_top + ky*dh, ox*sw - pad_left
// + kx*dw). With stride 1 the input plane is read in place: output q = oy*iw + ox reads q +
// offset[t]. With a stride, the input is first split into stride phases (phase (rp, cp) holds
// rows rp, rp + sh, ... and columns cp, cp + sw, ...), each with row pitch `pitch`, so a strided
// tap is again a constant offset from q. Either way each tap of each block of 64 outputs is one
// masked load: the mask drops reads that fall in the padding (or wrap into a neighbouring row),
// and a dropped lane reads the input zero point, which contributes (zx - zx) * w = 0 exactly
// like the zero-point padding of the GEMM formulation.
#pragma once

#include <cstdint>
#include <vector>

#include "agent/engine/kernels/im2col_u8.h"

namespace edge::engine {

inline constexpr int64_t kDepthwiseBlock = 64;  // outputs per mask word

// Gapped rows, a depthwise form for output rows of 8 or more (laid out by MakeDepthwisePlan
// where it applies; pitch == 0: not laid out): pair slots of their own (taps, as slot_taps: tap
// pairs one column apart in a phase row) over a copy of each channel's source (its stride
// phases) as int16 values x - zx in rows `pitch` apart with zeros around every row (`left`
// columns before it, the rest of the pitch after it, `top` rows above each phase and zero rows
// below), so that every read a valid output makes lands on its value or on a zero: no masks.
// Output (oy, ox) of slot s reads the int16 pair at offsets[s] + oy * pitch + ox, and the kernel
// computes each output row in units of 16 outputs (the last one overlapping the one before it;
// a row of 8-15 outputs is one unit, its extra outputs stored into the bytes after the row,
// which the next row's unit overwrites, or not stored after a channel's last row). The copy
// holds the input rows of `band` output rows at a time, so planes of any height fit it. The
// AVX2 tier's form where `avx2` says so (the AVX-512 VNNI tier's word groups beat it: vpdpwssd
// on 256-bit vectors in this form measured 0.68 against 0.51 ns per output on efflite_swish's
// 5x5, Zen 4).
struct GappedRows {
  int64_t pitch = 0;
  int64_t left = 0, top = 0;
  int64_t band = 0;             // output rows per band
  int64_t phase_rows = 0;       // canvas rows of one phase (a band's rows and margins)
  int64_t canvas = 0;           // int16 elements of the copy
  std::vector<int8_t> taps;     // [slots][2], -1 for a slot's missing second tap
  std::vector<int64_t> offsets; // [slots]
  bool avx2 = false;            // the AVX2 tier's cheapest form
  int slots() const { return static_cast<int>(offsets.size()); }
};

struct DepthwisePlan {
  int64_t pitch = 0;        // row pitch of the output grid and of the source (phase) planes
  int64_t grid = 0;         // out_h * pitch outputs computed per channel
  int64_t blocks = 0;       // ceil(grid / 64)
  bool split = false;       // the input is split into stride phases first (else read in place)
  int64_t phase_rows = 0;   // rows of one phase plane (split only)
  int64_t phase_bytes = 0;  // bytes of one channel's phase planes (split only)
  // [stride_h] (split only): whether a kernel row reads row phase rp, i.e. (ky * dh - pad_top)
  // mod sh == rp for some ky. The splits leave the other row phases unwritten (odd_strides'
  // dilated stride-2 conv reads one of two: half the split), and kernels read nothing from
  // them but bytes their masks drop.
  std::vector<uint8_t> row_phase_read;
  bool direct = false;      // pitch == out_w: the grid is the output plane, no copy-out
  int taps = 0;             // kernel taps rounded up to a multiple of 4 (extra taps: weight 0)
  int real_taps = 0;        // kernel_h * kernel_w
  // The interior: grid outputs (oy, ox) with row_begin <= oy < row_end and col_begin <= ox <
  // col_end read every real tap inside the input, so their mask bits are all set.
  int64_t row_begin = 0, row_end = 0, col_begin = 0, col_end = 0;
  std::vector<int64_t> offsets;  // [taps] from output index q to the tap's source byte
  std::vector<uint64_t> masks;   // [blocks][taps] bit i: output q = 64*block + i reads the source
  // The same bits as bytes for 32-output steps: [ceil(grid / 32)][taps][32], 0xFF where the bit
  // is set (the AVX2 kernel's blend operand, loaded instead of expanded from the bits each time).
  std::vector<uint8_t> lane_masks;

  // Word groups, an alternative form for SIMD tiers (words == 0: not offered). Taps whose
  // source offsets lie within 4 consecutive bytes form one word group, so that output q's
  // taps of group w are the bytes [q + word_offsets[w], +4) and one 4-byte dot product sums
  // them with no shuffling: a 64-byte load from q0 + s + word_offsets[w] holds, in 32-bit
  // lane i, the group's bytes for output q0 + 4i + s (s = 0..3, the lane phase). Offered
  // where the groups are few enough to pay (stride 1: one group per kernel row of <= 4 taps).
  int words = 0;
  std::vector<int64_t> word_offsets;  // [words]
  std::vector<int8_t> word_taps;      // [words][4] the tap each byte belongs to, -1 for none
  // [blocks][words][4 lane phases] bit 4i + j: byte j of output 64*block + 4i + s is read
  // (its tap's mask bit); clear bits load zx, as in `masks`.
  std::vector<uint64_t> word_masks;
  // The same bits as bytes for 32-output steps (the AVX-VNNI kernel's blend operand):
  // [ceil(grid / 32)][words][4 lane phases][32], byte 4i + j of step k, phase s: 0xFF where
  // bit 32 * (k % 2) + 4i + j of block k / 2's word mask is set.
  std::vector<uint8_t> word_lane_masks;

  // Pair slots, the AVX2 tier's form (slots == 0: not offered). The kernel works on a copy of
  // a channel's source as int16 values x - zx (zero where a tap is dropped) and pairs taps
  // whose source offsets differ by one (neighbours in a kernel row at stride 1, or in one
  // stride phase), a tap without such a partner alone: slot s covers taps slot_taps[2s] at
  // slot_offsets[s] and slot_taps[2s + 1] at slot_offsets[s] + 1. One 16-value load from
  // q0 + parity + offset then holds, in 32-bit lane i, the slot's pair for output
  // q0 + 2i + parity, which one vpmaddwd sums: no byte interleaving and no sign unpacks.
  int slots = 0;
  std::vector<int64_t> slot_offsets;  // [slots]
  std::vector<int8_t> slot_taps;      // [slots][2] the tap of each int16 of the pair, -1 for none
  // [steps of 16 outputs, rounded up to an even count][slots][2 parities][16] int16: -1 where
  // lane 2i + j is read (tap slot_taps[2s + j] reads inside the input for output
  // 16 * step + 2i + parity), 0 where it is dropped. The kernel ANDs the loaded values with it.
  std::vector<int16_t> slot_masks;
  int64_t slot_front = 0;   // int16 elements the kernel's copy keeps before the source (reads below it)
  int64_t slot_canvas = 0;  // int16 elements of that copy: front, source and what reads past it
  // The source values the slots read, [begin, end): the rest of the source is not copied
  // (odd_strides' dilated stride-2 conv reads one of its four stride phases).
  int64_t slot_read_begin = 0, slot_read_end = 0;

  GappedRows gap;    // the gapped rows' layout (pitch 0: not laid out)
  ConvGeometry geom;  // the conv the plan is for
};

// Pair slots (and gapped rows) are offered for plans whose copy of a source fits this many int16
// elements (a 16 KB stack buffer) and whose masks stay small.
inline constexpr int64_t kMaxSlotCanvas = 8192;
inline constexpr int kMaxDepthwiseSlots = 32;

// Gapped rows are laid out with up to this many units of 16 outputs per band (the kernel's unit
// tables on the stack; the copy's kMaxSlotCanvas already keeps real plans below ~910).
inline constexpr int64_t kMaxGapUnits = 1024;

// Word groups are offered up to this many (a per-channel array of weight words in the kernels).
inline constexpr int kMaxDepthwiseWords = 32;

DepthwisePlan MakeDepthwisePlan(const ConvGeometry& g);

// The weights of each channel's word groups as 4-byte words (byte j: the weight of the group's
// tap j, 0 where it has none): [channels][plan.words], for DepthwiseArgs::word_weights.
std::vector<int32_t> PackDepthwiseWords(const DepthwisePlan& plan, const int8_t* weights, int64_t channels);

// Splits `channels` input planes of g.in_h x g.in_w into their stride phases (plan.split).
// A row's last bytes come from one 16-byte load: x needs 15 bytes of readable slack after it
// (every arena tensor and every constant has 64).
void SplitDepthwisePhases(const int8_t* x, const ConvGeometry& g, const DepthwisePlan& plan, int64_t channels,
                          int8_t* phases);

// acc = bias[c] + sum_t w[c][t] * (src + 128), src the tap's byte or zx where the mask drops it;
// out[c][q] = requantize(acc) for q < grid, exactly as QGemm requantizes. bias has the unsigned
// shift and the zero point folded in (bias - (128 + zx) * sum_t w), as for the GEMM.
// The channels' sources are one buffer [src, src + channels * src_stride): a tier may read any
// byte of it (and use only the bytes the masks select), never a byte outside it.
struct DepthwiseArgs {
  const int8_t* src = nullptr;  // channel c's source: src + c * src_stride
  int64_t src_stride = 0;
  int8_t* out = nullptr;  // channel c's grid: out + c * out_stride
  int64_t out_stride = 0;
  int64_t channels = 0;
  const DepthwisePlan* plan = nullptr;
  const int8_t* weights = nullptr;  // [channels][plan.taps]
  // [channels][plan.words] where plan.words > 0: PackDepthwiseWords of `weights`, at load
  const int32_t* word_weights = nullptr;
  const int32_t* bias = nullptr;    // [channels]
  const float* mult = nullptr;      // [channels]
  int8_t zx = 0;
  int32_t zero_point = 0, qmin = -128, qmax = 127;
  // A split plan whose split the tier leaves to its kernel (ElementwiseKernels::
  // depthwise_unsplit accepts the plan): the input planes themselves, channel c at unsplit + c
  // * unsplit_stride, of geometry *geom. The kernel reads them in place of the phases (`src`
  // is then not read). The planes need 15 bytes of readable slack after them, as the split's.
  const int8_t* unsplit = nullptr;
  int64_t unsplit_stride = 0;
  const ConvGeometry* geom = nullptr;
};
using DepthwiseFn = void (*)(const DepthwiseArgs& args);
// Whether a tier's depthwise kernel takes this split plan's input unsplit (DepthwiseArgs::unsplit).
using DepthwiseUnsplitFn = bool (*)(const DepthwisePlan& plan);

// The AVX-512 split: 16-byte rows at stride 2 into 8-byte phase rows (MobileNet's 16x16
// planes) four rows per vector, other rows at column stride 2 64 bytes per vector (the last
// masked); other geometries (column strides 1 and 3 and above) go to SplitDepthwisePhases.
void SplitDepthwisePhasesAvx512(const int8_t* x, const ConvGeometry& g, const DepthwisePlan& plan, int64_t channels,
                                int8_t* phases);

void DepthwiseScalar(const DepthwiseArgs& args);
void DepthwiseAvx2(const DepthwiseArgs& args);
// The AVX2 kernel's pair-slot and gapped-row forms build their int16 copy of a channel's phases
// straight from the unsplit input: split plans it runs that way skip the separate split.
bool DepthwiseUnsplitAvx2(const DepthwisePlan& plan);
void DepthwiseAvxVnni(const DepthwiseArgs& args);  // in depthwise_avx2.cpp
void DepthwiseAvx512Vnni(const DepthwiseArgs& args);
void DepthwiseNeon(const DepthwiseArgs& args);  // arm64, every tier

}  // namespace edge::engine
