// int8 Conv and Gemm/MatMul: weights packed once at load, activations packed per run into
// the step's scratch, then one call of the tier's QGemm kernel per group.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/depthwise.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"
#include "agent/engine/kernels/winograd.h"
#include "agent/engine/ops/quant_epilogue.h"

namespace edge::engine {
namespace {

struct ConvShape {
  int64_t batch, cin, cout, group, cin_g, cout_g, ih, iw, oh, ow, k, kp, pixels, np;
  int64_t pad_t, pad_l, pad_b, pad_r, hp, wp;  // padded input plane (when the conv pads)
  int64_t padded_bytes;                        // scratch for the padded copy of one group
  int64_t col_bytes;
  int64_t kernel_w_span;  // dilation_w * (kernel_w - 1): how far a tap reads past a row
  bool depthwise;  // one input and one output channel per group: depthwise kernel, no im2col
  bool pointwise;  // 1x1, stride 1, no padding: each channel plane is one long row
  // Implicit GEMM (stride 1, kernel > 1x1): the padded input is interleaved once, 4 channels
  // per pixel, and k-group (tap, channel block) of the GEMM's right operand is that buffer
  // shifted by the tap's offset. The output is computed on the padded-width grid, whose valid
  // columns the GEMM stores straight into the output planes. No im2col.
  // A row's right padding is the next row's left padding: each padded row is max(pad_l, pad_r)
  // pad pixels (more where the pads outreach the kernel) then the input row (wp = iw + that),
  // one more pad row below the last (the last row's right padding), and tap views start
  // view_shift = wp - iw - pad_l pixels in. A SAME conv's grid is then iw + pad, not iw + 2 pad,
  // wide (a 3x3 on 8-wide rows: 9 columns a row, not 10; a 1x7 on 20: 23, not 26).
  bool implicit;
  int64_t view_shift;
  // Phased (a stride above 2, or 2 along one axis only; undilated, kernel at least the
  // stride): the same implicit
  // GEMM over the input's stride phases as channels, a stride-1 conv of kernel ph_kh x ph_kw
  // over phase planes of ph_h x ph_w (PackPhasedWeights: zero phase taps dropped). The
  // padded copy, if any, is hp x wp = (ph_h * stride_h) x (ph_w * stride_w). No im2col.
  // im2col's row gathers have vector forms for strides 1 and 2 only (stride-2 rows up to 16
  // pixels wide a vector or a permute each, adjacent taps); measured, at stride (2, 2) they
  // beat the phases (ResNet-8's 3x3 downsampling convs 6.3-7.5 -> 9.4-10.1 us, DS-CNN's and
  // MobileNet's stems slower too).
  bool phased;
  int64_t ph_h, ph_w, ph_kh, ph_kw, ph_channels;
  // Views (stride (2, 2), input channels a multiple of 4, more than one tap): the implicit
  // GEMM's interleaved operand (wp, view_shift and K order as there), each k-group's view then
  // gathered at column and row stride 2 into compact columns, a word per pixel, for the
  // im2col's GEMM. Replaces the padded copy and the byte-level im2col: the input is
  // interleaved once (4 channels per word) instead of once per tap.
  // Also stride-1 convs whose implicit grid would compute at least 1/8 more columns than the
  // output has (maps of 8 columns and less: a 3x3 on 8 x 8 computes 72 for 64) and that have
  // at least 32 output channels per group to spread the copy over: each view's rows copied
  // into compact columns. ResNet-8 74.3 -> 72.7 us, yolo_tiny2 302 -> 293, kws_asym 224 -> 221
  // (avx2 579 -> 551); with 4-16 output channels slower (densenet_tiny 75.4 -> 77.9,
  // resnext_tiny's grouped 3x3 78.0 -> 79.1; Zen 4, alternated).
  bool views;
  // Tap words (undilated kernel rows of 4 taps at column stride 2, e.g. DS-CNN's 10x4 stem, or
  // of 3 taps and a zero weight at row strides above 2, odd_strides' 5x3 stride-(3, 2) stem):
  // k-group (c, ky) is channel c's kernel row ky, whose 4 bytes for output (oy, ox) are input
  // row oy * sh + ky, bytes 2 * ox .. 2 * ox + 3. Built once per input row of each row phase r
  // (rows r, r + sh, ...) as ow words, group (c, ky) is channel c's row phase ky % sh shifted
  // by ky / sh rows of words: the im2col's kh x oh word rows per channel from min(sh, kh) * oh
  // + kh - min(sh, kh) of them (DS-CNN: 58 instead of 250), and no phase interleave.
  // Kernel rows of 7 or 8 taps (ResNet's 7x7 stride-2 stem) are two words each, kx 0-3 and
  // 4-7 (a zero weight past the kernel): the second word of output ox is the first word of
  // ox + 2, so word rows are 2 words longer than the output row (word_w) and the GEMM's
  // columns a grid of that pitch; k-group (c, ky, j) is (c, ky)'s view shifted by 2j words.
  // A 7-tap row's last word reads one byte past the row (its zero weight's), past the input's
  // last row inside the 64 bytes of slack every arena tensor and the padded copy keep.
  // At column stride 1 (since 2026-12-07; where K is at most 3/4 of the implicit GEMM's, i.e.
  // one or two input channels per group, whose 4-channel blocks are mostly zero weights, and
  // a few exact-fit cases such as 3 or 5-6 channels with 4-tap rows; any row stride, through
  // the row phases as above): output ox's word of kernel row
  // ky is bytes ox .. ox + 3, rows of 5-8 taps two words (the second the first of ox + 4), up
  // to 3 zero-weight bytes read past a row. ESPCN's 5x5 1 -> 32: K = 40 instead of 100.
  bool tap_words;
  std::vector<int64_t> word_rows;  // [sh]: rows of words of each row phase (0: unused)
  int64_t row_words;               // words per kernel row (1, or 2 for 5-8 taps)
  int64_t word_w;                  // words per word row: ow + WordShift * (row_words - 1)
  int64_t channel_words;           // words of one input channel: word_w x the sum of word_rows
  int64_t c4, grid, xi_pitch, ptr_bytes;
};

// A 3x3 stride-1 undilated dense conv that tiers with a Winograd kernel run by it
// (ElementwiseKernels::winograd3x3; kernels/winograd.h).
// Its weights are packed (and its scratch planned) only where this build has such a kernel
// (x86-64), whichever tier a context later picks; elsewhere the step keeps the GEMM forms.
bool WinogradEligible(const Node& n, const ConvShape& s) {
  return !s.depthwise && s.group == 1 && n.kernel[0] == 3 && n.kernel[1] == 3 && n.stride[0] == 1 &&
         n.stride[1] == 1 && n.dilation[0] == 1 && n.dilation[1] == 1 && s.cin <= kWinogradMaxChannels &&
         ElementwiseForTier(KernelTier::kAvx2).winograd3x3 != nullptr;
}

ConvGeometry GeometryOfConv(const Node& n, const ConvShape& s) {
  return ConvGeometry{s.cin_g, s.ih, s.iw, n.kernel[0], n.kernel[1], n.stride[0],
                      n.stride[1], n.dilation[0], n.dilation[1], n.pad[0], n.pad[1], s.oh, s.ow};
}

// Tap words: the second word of a kernel row (taps 4-7) of output ox is the first word of
// output ox + 4 / stride (column stride 1 or 2).
int64_t WordShift(const Node& n) { return 4 / n.stride[1]; }

ConvShape ShapeOfConv(const Node& n, const Graph& g) {
  const Value& x = g.values[n.in[0]];
  const Value& y = g.values[n.out[0]];
  ConvShape s{};
  s.batch = x.shape[0];
  s.cin = x.shape[1];
  s.cout = y.shape[1];
  s.group = n.group;
  s.cin_g = s.cin / s.group;
  s.cout_g = s.cout / s.group;
  const bool two_d = x.shape.size() == 4;
  s.ih = two_d ? x.shape[2] : 1;
  s.iw = x.shape.back();
  s.oh = two_d ? y.shape[2] : 1;
  s.ow = y.shape.back();
  s.k = s.cin_g * n.kernel[0] * n.kernel[1];
  s.kp = RoundUp(s.k, 4);
  s.pixels = s.oh * s.ow;
  s.np = PackedColumns(s.pixels);
  s.pad_t = n.pad[0];
  s.pad_l = n.pad[1];
  s.pad_b = n.pad[2];
  s.pad_r = n.pad[3];
  s.hp = s.ih + s.pad_t + s.pad_b;
  s.wp = s.iw + s.pad_l + s.pad_r;
  const bool pads = s.pad_t + s.pad_l + s.pad_b + s.pad_r > 0;
  s.col_bytes = RoundUp(s.kp * s.np, 64);
  s.kernel_w_span = n.dilation[1] * (n.kernel[1] - 1);
  s.depthwise = s.cin_g == 1 && s.cout_g == 1;
  s.pointwise = n.kernel[0] == 1 && n.kernel[1] == 1 && n.stride[0] == 1 && n.stride[1] == 1 && !pads;
  s.padded_bytes = pads ? RoundUp(s.cin_g * s.hp * s.wp + 64, 64) : 0;
  const bool stride_one = n.stride[0] == 1 && n.stride[1] == 1;
  const bool undilated = n.dilation[0] == 1 && n.dilation[1] == 1;
  const int64_t kw = n.kernel[1];
  // tap words at column stride 2: rows of 4 taps (no padding taps in K), of 7-8 (two words, at
  // most one padding tap), or of 3 where the alternative is the stride phases (row stride above
  // 2); at column stride 1 (any row stride), rows of 2-8 taps where K is at most three quarters
  // of the implicit GEMM's (1-2 input channels per group, whose implicit, or at row stride 2
  // phased, channel blocks are mostly zeros; also 3 channels with 4- or 8-tap rows and 5-6 with
  // 4-tap rows, at exactly 3/4, not measured: no model here has them; bcresnet_kws's 5x5
  // stride-(2, 1) stem on one channel 23-25 -> 17 us phased -> words at auto, 68-75 -> 50 at
  // avx2). (3x3s among them keep their Winograd weights for the avx2 tier, which runs those.)
  const bool words_at_two = n.stride[1] == 2 && (kw == 4 || kw == 7 || kw == 8 || (kw == 3 && n.stride[0] > 2));
  const bool words_at_one = n.stride[1] == 1 && kw >= 2 && kw <= 8 &&
                            4 * s.cin_g * ((kw + 3) / 4) <= 3 * kw * ((s.cin_g + 3) / 4);
  s.tap_words = !s.depthwise && !s.pointwise && undilated && (words_at_two || words_at_one);
  s.implicit = !s.depthwise && !s.pointwise && !s.tap_words && stride_one;
  // Stride phases above stride 2, and at a stride of 2 along one axis only, (2, 1) or (1, 2),
  // where the two phases' stride-1 GEMM beats im2col (kws_asym's 7x1 stride-(2, 1) conv 23.0
  // -> 17.6 us; single 3x3, 5x5, 3x1, 2x2 convs at (2, 1) 12-41 % faster at auto; vib1d's 1-D
  // stride-2 convs 10.2 -> 8.9 us; even to 10 % faster at avx2); not at (2, 2), where ResNet-8
  // and the MobileNet block were 5-6 % slower by phases (remeasured 2026-12-07).
  const bool one_axis_two = (n.stride[0] == 2 && n.stride[1] == 1) || (n.stride[0] == 1 && n.stride[1] == 2);
  s.phased = !s.depthwise && !s.tap_words && (n.stride[0] > 2 || n.stride[1] > 2 || one_axis_two) &&
             n.dilation[0] == 1 && n.dilation[1] == 1 && n.kernel[0] >= n.stride[0] && n.kernel[1] >= n.stride[1];
  const bool views_at_two = !s.depthwise && !s.tap_words && !s.phased && n.stride[0] == 2 && n.stride[1] == 2 &&
                            s.cin_g % 4 == 0 && n.kernel[0] * n.kernel[1] > 1;
  // the implicit GEMM's padded row width (the views' too): at least ow wide, where pads wider
  // than the kernel's span leave outputs past iw + pad
  const int64_t implicit_wp = s.iw + std::max({s.pad_l, s.pad_r, s.pad_l + s.pad_r - s.kernel_w_span});
  const bool views_at_one = s.implicit && s.cout_g >= 32 && implicit_wp * 8 >= s.ow * 9;
  s.views = views_at_two || views_at_one;
  if (views_at_one) s.implicit = false;
  if (s.tap_words) {
    const int64_t sh = n.stride[0];
    s.word_rows.assign(static_cast<size_t>(sh), 0);
    for (int64_t ky = 0; ky < n.kernel[0]; ++ky) {
      int64_t& rows = s.word_rows[static_cast<size_t>(ky % sh)];
      rows = std::max(rows, s.oh + ky / sh);
    }
    s.row_words = (kw + 3) / 4;
    s.word_w = s.ow + WordShift(n) * (s.row_words - 1);
    s.channel_words = 0;
    for (int64_t rows : s.word_rows) s.channel_words += rows * s.word_w;
    s.kp = s.cin_g * n.kernel[0] * s.row_words * 4;
    // the GEMM reads whole 16-column vectors, up to 15 words past the last view's columns;
    // 32 words of slack, as the implicit GEMM's operand keeps
    s.col_bytes = RoundUp(s.cin_g * s.channel_words * 4 + 128, 64);
    s.grid = s.oh * s.word_w;
    s.ptr_bytes = RoundUp(s.kp / 4 * static_cast<int64_t>(sizeof(void*)), 64);
  }
  if (s.depthwise) {
    // results on the plan's grid when it is wider than the output, then the stride phases
    const DepthwisePlan plan = MakeDepthwisePlan(GeometryOfConv(n, s));
    s.col_bytes = plan.direct ? 0 : RoundUp(s.cout * plan.grid, 64);
    s.padded_bytes = plan.split ? RoundUp(s.cin * plan.phase_bytes, 64) : 0;
  } else if (s.implicit || s.views) {
    s.c4 = (s.cin_g + 3) / 4;
    s.kp = n.kernel[0] * n.kernel[1] * s.c4 * 4;
    s.wp = implicit_wp;
    s.view_shift = s.wp - s.iw - s.pad_l;
    // hp + 1 padded rows; shifted views read up to view_shift + kernel_w_span + 15 pixels past
    // the padded plane (view_shift < wp)
    s.xi_pitch = RoundUp((s.hp + 2) * s.wp + s.kernel_w_span + 32, 16);
    const int64_t xi_bytes = RoundUp(s.c4 * s.xi_pitch * 4, 64);
    if (s.implicit) {  // the GEMM reads the views in place, on the grid
      s.grid = s.oh * s.wp;
      s.col_bytes = xi_bytes;
      s.padded_bytes = 0;
      s.ptr_bytes = RoundUp(s.kp / 4 * static_cast<int64_t>(sizeof(void*)), 64);
    } else {  // compact columns, then the interleaved operand they are gathered from
      s.col_bytes = RoundUp(s.kp * s.np, 64);
      s.padded_bytes = xi_bytes;
      s.ptr_bytes = 0;
    }
  } else if (s.phased) {
    const int64_t sh = n.stride[0], sw = n.stride[1];
    s.ph_kh = (n.kernel[0] + sh - 1) / sh;
    s.ph_kw = (n.kernel[1] + sw - 1) / sw;
    // big enough for every tap of every output pixel and for the whole input
    s.ph_h = std::max(s.oh + s.ph_kh - 1, (s.pad_t + s.ih + sh - 1) / sh);
    s.ph_w = std::max(s.ow + s.ph_kw - 1, (s.pad_l + s.iw + sw - 1) / sw);
    s.hp = s.ph_h * sh;
    s.wp = s.ph_w * sw;
    s.ph_channels = s.cin_g * sh * sw;
    s.c4 = (s.ph_channels + 3) / 4;
    s.kp = s.ph_kh * s.ph_kw * s.c4 * 4;
    s.grid = s.oh * s.ph_w;
    s.xi_pitch = RoundUp(s.ph_h * s.ph_w + s.ph_kw + 32, 16);
    s.col_bytes = RoundUp(s.c4 * s.xi_pitch * 4, 64);
    // A padded copy unless the input's rows are the phase rows' width (no column padding);
    // InterleavePhasesU8 reads up to 32 bytes past the planes.
    s.padded_bytes = s.pad_l == 0 && s.wp == s.iw ? 0 : RoundUp(s.cin_g * s.hp * s.wp + 64, 64);
    s.ptr_bytes = RoundUp(s.kp / 4 * static_cast<int64_t>(sizeof(void*)), 64);
  }
  return s;
}

class QConvStep : public Step {
 public:
  Ref x;
  int64_t out = 0, scratch = 0;
  ConvShape shape{};
  ConvGeometry geom;
  uint8_t pad_byte = 0;
  std::vector<int8_t> pad_row;  // pad_byte ^ 0x80, read by taps that fall in the padding
  ConvGeometry padded_geom;     // geom on the padded copy: no padding left
  std::vector<int64_t> group_offsets;   // implicit GEMM: byte offset of each k-group's view
  std::vector<int64_t> phase_order;     // phased: the phase (ph * sw + pw) of each rank

  std::vector<int8_t> weights;  // [cout][kp]
  std::vector<int32_t> bias;    // [cout], shift and input zero point folded in
  std::vector<int32_t> bias_signed;  // [cout], input zero point only (QGemmArgs::bias_signed)
  std::vector<int16_t> weights_widened;  // per group, WidenLeftS8 of its rows (QGemmArgs::left_widened)
  std::vector<float> mult;      // [cout]
  DepthwisePlan depthwise_plan;         // depthwise: taps, masks and source layout
  std::vector<int32_t> word_weights;    // depthwise: the plan's word groups' weights, if any
  std::vector<int16_t> winograd_weights;  // WinogradEligible: PackWinogradWeights (else empty)
  int32_t zero_point = 0, qmin = -128, qmax = 127;

  // Depthwise: one kernel call for all channels, reading the input in place (stride 1) or
  // its stride phases, writing the output planes directly unless the grid is wider.
  void RunDepthwise(const ExecEnv& env) const {
    const int8_t* X = x.Get<int8_t>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    int8_t* grid_out = reinterpret_cast<int8_t*>(env.arena + scratch);
    int8_t* phases = reinterpret_cast<int8_t*>(env.arena + scratch + shape.col_bytes);
    const DepthwisePlan& p = depthwise_plan;
    DepthwiseArgs a;
    a.src_stride = p.split ? p.phase_bytes : shape.ih * shape.iw;
    a.out_stride = p.grid;
    a.channels = shape.cout;
    a.plan = &p;
    a.weights = weights.data();
    a.word_weights = word_weights.data();
    a.bias = bias.data();
    a.mult = mult.data();
    a.zx = static_cast<int8_t>(pad_byte ^ 0x80);
    a.zero_point = zero_point;
    a.qmin = qmin;
    a.qmax = qmax;
    // a tier whose kernel reads this plan's input unsplit: no split pass
    const bool unsplit = p.split && env.elementwise->depthwise_unsplit != nullptr && env.elementwise->depthwise_unsplit(p);
    if (unsplit) {
      a.unsplit_stride = shape.ih * shape.iw;
      a.geom = &geom;
    }
    for (int64_t b = 0; b < shape.batch; ++b) {
      const int8_t* src = X + b * shape.cin * shape.ih * shape.iw;
      if (unsplit) {
        a.unsplit = src;
        src = phases;  // not read
      } else if (p.split) {
        env.elementwise->depthwise_split(src, geom, p, shape.cin, phases);
        src = phases;
      }
      int8_t* dst = Y + b * shape.cout * shape.pixels;
      a.src = src;
      a.out = p.direct ? dst : grid_out;
      env.elementwise->depthwise(a);
      if (p.direct) continue;
      for (int64_t c = 0; c < shape.cout; ++c) {
        CopyRowsS8(grid_out + c * p.grid, p.pitch, dst + c * shape.pixels, shape.ow, shape.ow, shape.oh);
      }
    }
  }

  // The implicit GEMM's (and the views') interleaved operand of one group: rows of wp - iw pad
  // pixels then the input row, and a pad row more (the interleave itself at stride 1).
  void InterleaveShared(const ExecEnv& env, const int8_t* src, uint8_t* xi) const {
    ConvGeometry shared = geom;
    shared.pad_left = shape.wp - shape.iw;
    shared.stride_h = shared.stride_w = 1;
    env.elementwise->interleave_padded(src, shared, shape.hp + 1, shape.wp, pad_byte, pad_row.data(),
                                       shape.xi_pitch * 4, xi);
  }

  // Implicit and phased: the interleaved operand, then the GEMM over its shifted views.
  void RunImplicit(const ExecEnv& env) const {
    const int8_t* X = x.Get<int8_t>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    uint8_t* xi = reinterpret_cast<uint8_t*>(env.arena + scratch);
    int8_t* padded = reinterpret_cast<int8_t*>(env.arena + scratch + shape.col_bytes);
    const uint8_t** groups =
        reinterpret_cast<const uint8_t**>(env.arena + scratch + shape.col_bytes + shape.padded_bytes);
    for (size_t g = 0; g < group_offsets.size(); ++g) groups[g] = xi + group_offsets[g];
    QGemmArgs a;
    a.weights = QGemmWeights::kLeft;
    a.m = shape.cout_g;
    a.n = shape.grid;
    a.kp = shape.kp;
    a.np = RoundUp(shape.grid, kQGemmColumnAlign);
    a.right = xi;
    a.right_groups = groups;
    a.zero_point = zero_point;
    a.qmin = qmin;
    a.qmax = qmax;
    a.ldo = shape.pixels;
    const int64_t grid_w = shape.phased ? shape.ph_w : shape.tap_words ? shape.word_w : shape.wp;
    a.grid_pitch = grid_w > shape.ow ? grid_w : 0;  // equal widths: the grid is the output
    a.grid_width = shape.ow;
    for (int64_t b = 0; b < shape.batch; ++b) {
      for (int64_t g = 0; g < shape.group; ++g) {
        const int8_t* src = X + (b * shape.cin + g * shape.cin_g) * shape.ih * shape.iw;
        if (shape.tap_words) {
          const int8_t* rows = src;
          int64_t pitch = shape.iw, plane = shape.ih * shape.iw;
          if (shape.padded_bytes > 0) {
            PadPlanesS8(src, shape.cin_g, shape.ih, shape.iw, shape.pad_t, shape.pad_l, shape.hp, shape.wp,
                        static_cast<int8_t>(pad_byte ^ 0x80), padded);
            rows = padded;
            pitch = shape.wp;
            plane = shape.hp * shape.wp;
          }
          uint8_t* dst = xi;
          for (int64_t c = 0; c < shape.cin_g; ++c, rows += plane) {
            for (size_t r = 0; r < shape.word_rows.size(); ++r) {
              const int64_t n_rows = shape.word_rows[r];
              env.elementwise->tap_word_rows(rows + static_cast<int64_t>(r) * pitch, geom.stride_w,
                                             geom.stride_h * pitch, n_rows, shape.word_w, dst);
              dst += n_rows * shape.word_w * 4;
            }
          }
        } else if (shape.phased && shape.padded_bytes == 0) {  // rows as wide as the phases': padding rows only
          InterleavePhasesU8(src, shape.cin_g, shape.ih, shape.pad_t, shape.ph_h, shape.ph_w, geom.stride_h,
                             geom.stride_w, phase_order.data(), pad_row.data(), shape.xi_pitch * 4, xi,
                             env.elementwise->interleave_strided);
        } else if (shape.phased) {
          PadPlanesS8(src, shape.cin_g, shape.ih, shape.iw, shape.pad_t, shape.pad_l, shape.hp, shape.wp,
                      static_cast<int8_t>(pad_byte ^ 0x80), padded);
          InterleavePhasesU8(padded, shape.cin_g, shape.hp, 0, shape.ph_h, shape.ph_w, geom.stride_h, geom.stride_w,
                             phase_order.data(), pad_row.data(), shape.xi_pitch * 4, xi,
                             env.elementwise->interleave_strided);
        } else {
          InterleaveShared(env, src, xi);
        }
        a.left = reinterpret_cast<const uint8_t*>(weights.data() + g * shape.cout_g * shape.kp);
        a.left_widened = weights_widened.data() + g * shape.cout_g * shape.kp;
        a.bias = bias.data() + g * shape.cout_g;
        a.bias_signed = bias_signed.data() + g * shape.cout_g;
        a.mult = mult.data() + g * shape.cout_g;
        a.out = Y + (b * shape.cout + g * shape.cout_g) * shape.pixels;
        env.qgemm(a);
      }
    }
  }

  std::vector<QEpilogueOp> epilogue;  // folded lookups and residual Adds, in order

  void Run(const ExecEnv& env) const override {
    if (!winograd_weights.empty() && env.elementwise->winograd3x3 != nullptr) {
      RunWinograd(env);
    } else if (shape.depthwise) {
      RunDepthwise(env);
    } else if (shape.implicit || shape.phased || shape.tap_words) {
      RunImplicit(env);
    } else {
      RunIm2col(env);
    }
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    for (const QEpilogueOp& op : epilogue) RunQEpilogueOp(op, env, Y, shape.batch * shape.cout * shape.pixels);
  }

  void RunWinograd(const ExecEnv& env) const {
    WinogradArgs a;
    a.cin = shape.cin;
    a.cout = shape.cout;
    a.ih = shape.ih;
    a.iw = shape.iw;
    a.oh = shape.oh;
    a.ow = shape.ow;
    a.pad_t = shape.pad_t;
    a.pad_l = shape.pad_l;
    a.zx = static_cast<int8_t>(pad_byte ^ 0x80);
    a.u = winograd_weights.data();
    a.bias = bias_signed.data();
    a.mult = mult.data();
    a.zero_point = zero_point;
    a.qmin = qmin;
    a.qmax = qmax;
    a.scratch = reinterpret_cast<int8_t*>(env.arena + scratch);
    const int8_t* X = x.Get<int8_t>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    for (int64_t b = 0; b < shape.batch; ++b) {
      a.x = X + b * shape.cin * shape.ih * shape.iw;
      a.out = Y + b * shape.cout * shape.pixels;
      env.elementwise->winograd3x3(a);
    }
  }

  void RunIm2col(const ExecEnv& env) const {
    const int8_t* X = x.Get<int8_t>(env);
    int8_t* Y = reinterpret_cast<int8_t*>(env.arena + out);
    uint8_t* col = reinterpret_cast<uint8_t*>(env.arena + scratch);
    int8_t* padded = reinterpret_cast<int8_t*>(env.arena + scratch + shape.col_bytes);
    QGemmArgs a;
    a.weights = QGemmWeights::kLeft;
    a.m = shape.cout_g;
    a.n = shape.pixels;
    a.kp = shape.kp;
    a.np = shape.np;
    a.right = col;
    a.zero_point = zero_point;
    a.qmin = qmin;
    a.qmax = qmax;
    a.ldo = shape.pixels;
    for (int64_t b = 0; b < shape.batch; ++b) {
      for (int64_t g = 0; g < shape.group; ++g) {
        const int8_t* src = X + (b * shape.cin + g * shape.cin_g) * shape.ih * shape.iw;
        if (shape.pointwise) {
          // 1x1 stride 1: each k-group is four channel planes interleaved (the tier's kernel)
          for (int64_t kg = 0; kg < shape.kp / 4; ++kg) {
            const int8_t* planes[4];
            for (int j = 0; j < 4; ++j) {
              const int64_t c = kg * 4 + j;
              planes[j] = c < shape.cin_g ? src + c * shape.pixels : pad_row.data();
            }
            env.elementwise->interleave4(planes, shape.pixels, col + kg * shape.np * 4);
          }
        } else if (shape.views) {
          uint8_t* xi = reinterpret_cast<uint8_t*>(padded);
          InterleaveShared(env, src, xi);
          for (size_t k = 0; k < group_offsets.size(); ++k) {
            env.elementwise->gather_words(xi + group_offsets[k], geom.stride_w, geom.stride_h * shape.wp * 4, shape.oh,
                                          shape.ow, col + static_cast<int64_t>(k) * shape.np * 4);
          }
        } else if (shape.padded_bytes > 0) {
          // A padded copy makes every tap of every output pixel an in-bounds read, so im2col
          // runs its vector path across whole rows instead of checking borders.
          PadPlanesS8(src, shape.cin_g, shape.ih, shape.iw, shape.pad_t, shape.pad_l, shape.hp, shape.wp,
                      static_cast<int8_t>(pad_byte ^ 0x80), padded);
          Im2colU8(padded, padded_geom, pad_byte, pad_row.data(), shape.kp, shape.np, col,
                   env.elementwise->im2col_rows, env.elementwise->interleave_strided);
        } else {
          Im2colU8(src, geom, pad_byte, pad_row.data(), shape.kp, shape.np, col,
                   env.elementwise->im2col_rows, env.elementwise->interleave_strided);
        }
        a.left = reinterpret_cast<const uint8_t*>(weights.data() + g * shape.cout_g * shape.kp);
        a.left_widened = weights_widened.data() + g * shape.cout_g * shape.kp;
        a.bias = bias.data() + g * shape.cout_g;
        a.bias_signed = bias_signed.data() + g * shape.cout_g;
        a.mult = mult.data() + g * shape.cout_g;
        a.out = Y + (b * shape.cout + g * shape.cout_g) * shape.pixels;
        env.qgemm(a);
      }
    }
  }
};

class QGemmStep : public Step {
 public:
  Ref x;
  int64_t out = 0, scratch = 0, m = 0, n = 0, k = 0, kp = 0, np = 0;
  std::vector<int8_t> packed;  // [kp/4][np][4]
  std::vector<int32_t> bias;   // [np]
  std::vector<int32_t> bias_signed;  // [np]
  std::vector<float> mult;     // [np]
  int32_t zero_point = 0, qmin = -128, qmax = 127;
  // A folded bias Add (FoldBiasAddIntoQGemm): its per-column constant ([np], zero past n) and
  // parameters; codes_at: scratch for the codes where the kernel does not take it.
  std::vector<float> column_add;
  QGemmColumnAdd add_params;
  int64_t codes_at = -1;

  void Run(const ExecEnv& env) const override {
    uint8_t* left = reinterpret_cast<uint8_t*>(env.arena + scratch);
    PackLeftU8(x.Get<int8_t>(env), m, k, kp, left);
    QGemmArgs a;
    a.weights = QGemmWeights::kRight;
    a.m = m;
    a.n = n;
    a.kp = kp;
    a.np = np;
    a.left = left;
    a.right = reinterpret_cast<const uint8_t*>(packed.data());
    a.bias = bias.data();
    a.bias_signed = bias_signed.data();
    a.mult = mult.data();
    a.zero_point = zero_point;
    a.qmin = qmin;
    a.qmax = qmax;
    a.out = reinterpret_cast<int8_t*>(env.arena + out);
    a.ldo = n;
    // (one row: the kernel's GEMV path, which does not take the Add, then the Add's pass)
    if (column_add.empty() || (m > 1 && QGemmTakesColumnAdd(env.qgemm))) {
      if (!column_add.empty()) a.column_add = &add_params;
      env.qgemm(a);
      return;
    }
    // the codes, then the Add as its own step would run it
    int8_t* codes = reinterpret_cast<int8_t*>(env.arena + codes_at);
    a.out = codes;
    env.qgemm(a);
    env.elementwise->qfloat_binary_run(
        ColumnAddRun(add_params, codes, zero_point, m, n, reinterpret_cast<int8_t*>(env.arena + out)));
  }
};

// x * w / y of one output channel (NonFiniteRequant).
tl::unexpected<Error> NonFiniteMultiplier(int64_t channel) {
  return NonFiniteRequant("requantization multiplier of channel " + std::to_string(channel) +
                          " (input scale x weight scale / output scale)");
}

// A phased conv's weights and k-group views. Phase tap (ty, tx) of phase (py, px) is the
// kernel's tap (ty * sh + py, tx * sw + px), zero where that falls outside the kernel. Phases
// are ranked by the phase taps they use (most first, equal sets together), phase channel
// rank * cin_g + c, so 4-channel blocks share their zero taps, and k-groups (phase tap,
// block) that are zero for every output channel are dropped: odd_strides' 5x3 stride-(3, 2)
// stem (2 channels, 6 phases) keeps 8 of 12, K = 32 as its im2col. Blocks share zero taps
// only as far as cin_g allows (a multiple of 4: whole blocks of one phase).
void PackPhasedWeights(const Node& n, const Value& w, QConvStep& s) {
  ConvShape& cs = s.shape;
  const int64_t sh = n.stride[0], sw = n.stride[1], kh = n.kernel[0], kw = n.kernel[1];
  const int64_t taps = cs.ph_kh * cs.ph_kw, phases = sh * sw;
  std::vector<uint64_t> used(static_cast<size_t>(phases), 0);  // bit ty * ph_kw + tx (taps <= 64 here)
  for (int64_t p = 0; p < phases; ++p) {
    for (int64_t t = 0; t < taps; ++t) {
      const int64_t ky = t / cs.ph_kw * sh + p / sw, kx = t % cs.ph_kw * sw + p % sw;
      if (ky < kh && kx < kw && t < 64) used[p] |= uint64_t{1} << t;
    }
  }
  s.phase_order.resize(static_cast<size_t>(phases));
  for (int64_t p = 0; p < phases; ++p) s.phase_order[p] = p;
  std::stable_sort(s.phase_order.begin(), s.phase_order.end(), [&](int64_t a, int64_t b) {
    const int ca = __builtin_popcountll(used[a]), cb = __builtin_popcountll(used[b]);
    return ca != cb ? ca > cb : used[a] > used[b];
  });
  std::vector<int8_t> all(static_cast<size_t>(cs.cout * cs.kp), 0);
  for (int64_t c = 0; c < cs.cout; ++c) {
    for (int64_t cp = 0; cp < cs.ph_channels; ++cp) {
      const int64_t phase = s.phase_order[cp / cs.cin_g], ci = cp % cs.cin_g, py = phase / sw, px = phase % sw;
      for (int64_t t = 0; t < taps; ++t) {
        const int64_t ky = t / cs.ph_kw * sh + py, kx = t % cs.ph_kw * sw + px;
        if (ky >= kh || kx >= kw) continue;
        all[c * cs.kp + (t * cs.c4 + cp / 4) * 4 + cp % 4] = static_cast<int8_t>(w.ci[c * cs.k + (ci * kh + ky) * kw + kx]);
      }
    }
  }
  std::vector<int64_t> kept;
  for (int64_t g = 0; g < cs.kp / 4; ++g) {
    bool zero = true;
    for (int64_t c = 0; c < cs.cout && zero; ++c) {
      for (int j = 0; j < 4; ++j) zero = zero && all[c * cs.kp + g * 4 + j] == 0;
    }
    if (!zero || (kept.empty() && g + 1 == cs.kp / 4)) kept.push_back(g);  // at least one group
  }
  const int64_t kp = static_cast<int64_t>(kept.size()) * 4;
  s.weights.assign(static_cast<size_t>(cs.cout * kp), 0);
  for (int64_t c = 0; c < cs.cout; ++c) {
    for (size_t i = 0; i < kept.size(); ++i) {
      std::memcpy(&s.weights[c * kp + static_cast<int64_t>(i) * 4], &all[c * cs.kp + kept[i] * 4], 4);
    }
  }
  for (int64_t g : kept) {
    const int64_t t = g / cs.c4, cb = g % cs.c4;
    s.group_offsets.push_back(cb * cs.xi_pitch * 4 + (t / cs.ph_kw * cs.ph_w + t % cs.ph_kw) * 4);
  }
  cs.kp = kp;  // the scratch keeps room for every k-group's view
}

}  // namespace

int64_t ScratchBytes(const Node& n, const Graph& g) {
  if (n.kind == OpKind::kQConv) {
    const ConvShape s = ShapeOfConv(n, g);
    const int64_t winograd = WinogradEligible(n, s) ? WinogradScratchBytes(s.cin, s.oh, s.ow) : 0;
    return std::max(s.col_bytes + s.padded_bytes + s.ptr_bytes, winograd);
  }
  if (n.kind == OpKind::kQGemm) {
    const Value& x = g.values[n.in[0]];
    const int64_t k = g.values[n.in[1]].shape[1];
    // (a folded bias Add: the codes' bytes after the packed rows, for kernels without it)
    const int64_t packed = (x.elements / k) * RoundUp(k, 4);
    return n.epilogue.empty() ? packed : RoundUp(packed, 64) + g.values[n.out[0]].elements;
  }
  if (n.kind == OpKind::kQReduceMean) return g.values[n.out[0]].elements * 4;
  if (n.kind == OpKind::kMaxPool || n.kind == OpKind::kQMaxPool) return MaxPoolScratchBytes(n, g);
  if (n.kind == OpKind::kQAvgPool) return QAvgPoolScratchBytes(n, g);
  if (n.kind == OpKind::kQFloatOp) return QFloatOpScratchBytes(n, g);
  if (n.kind == OpKind::kQConcat) return QConcatScratchBytes(n, g);
  if (n.kind == OpKind::kResizeLinear) return ResizeLinearScratchBytes(n, g);
  if (n.kind == OpKind::kRecurrent) return RecurrentScratchBytes(n);
  if (n.kind == OpKind::kConv) return FloatConvScratchBytes(n, g);
  // ReduceLogSumExp: the per-slot sums of exp(x - max) beside the maxima in the output.
  if (n.kind == OpKind::kReduceMean && n.reduce == ReduceKind::kLogSumExp) return g.values[n.out[0]].elements * 4;
  return 0;
}

Result<std::unique_ptr<Step>> BuildQuantMatrixStep(const Node& n, BuildContext& ctx) {
  const Value& x = ctx.V(n.in[0]);
  const Value& w = ctx.V(n.in[1]);
  // with a folded epilogue, the conv requantizes to its own (unstored) output's parameters
  const Value& y = ctx.V(n.epilogue.empty() ? n.out[0] : n.epilogue[0].in[0]);
  const int32_t shift_zp = 128 + x.q.zero_point;
  if (n.kind == OpKind::kQConv) {
    auto s = std::make_unique<QConvStep>();
    s->shape = ShapeOfConv(n, ctx.graph);
    const ConvShape& cs = s->shape;
    s->x = ctx.RefOf(n.in[0]);
    s->out = ctx.Out(n);
    s->scratch = ctx.scratch_offset;
    s->geom = GeometryOfConv(n, cs);
    s->pad_byte = static_cast<uint8_t>(x.q.zero_point + 128);
    s->padded_geom = s->geom;
    s->padded_geom.in_h = cs.hp;
    s->padded_geom.in_w = cs.wp;
    s->padded_geom.pad_top = 0;
    s->padded_geom.pad_left = 0;
    s->weights.assign(static_cast<size_t>(cs.cout * cs.kp), 0);
    s->bias.resize(static_cast<size_t>(cs.cout));
    s->bias_signed.resize(static_cast<size_t>(cs.cout));
    s->mult.resize(static_cast<size_t>(cs.cout));
    for (int64_t c = 0; c < cs.cout; ++c) {
      int64_t sum = 0;
      for (int64_t k = 0; k < cs.k; ++k) {
        const int32_t v = w.ci[c * cs.k + k];
        s->weights[c * cs.kp + k] = static_cast<int8_t>(v);
        sum += v;
      }
      s->bias[c] = static_cast<int32_t>(n.bias_q[c] - shift_zp * sum);
      s->bias_signed[c] = static_cast<int32_t>(n.bias_q[c] - x.q.zero_point * sum);
      s->mult[c] = x.q.scale * w.cscale[c] / y.q.scale;
      if (!std::isfinite(s->mult[c])) return NonFiniteMultiplier(c);
    }
    // depthwise: weights [cout][kp] are [cout][taps rounded up to 4], the plan's layout
    if (cs.depthwise) {
      s->depthwise_plan = MakeDepthwisePlan(s->geom);
      s->word_weights = PackDepthwiseWords(s->depthwise_plan, s->weights.data(), cs.cout);
    }
    if (cs.pointwise) {
      // 1x1 stride 1: the im2col of a whole plane is one row of H*W pixels
      s->geom = ConvGeometry{cs.cin_g, 1, cs.pixels, 1, 1, 1, 1, 1, 1, 0, 0, 1, cs.pixels};
    }
    int64_t pad_row_length = Im2colPadRowLength(s->geom);
    if (cs.implicit || cs.views) {
      // K order (tap, channel block of 4, channel in block), channels padded with zero weights
      const int64_t taps = n.kernel[0] * n.kernel[1];
      std::fill(s->weights.begin(), s->weights.end(), int8_t{0});
      for (int64_t c = 0; c < cs.cout; ++c) {
        for (int64_t ci = 0; ci < cs.cin_g; ++ci) {
          for (int64_t t = 0; t < taps; ++t) {
            s->weights[c * cs.kp + (t * cs.c4 + ci / 4) * 4 + ci % 4] =
                static_cast<int8_t>(w.ci[c * cs.k + ci * taps + t]);
          }
        }
      }
      for (int64_t ky = 0; ky < n.kernel[0]; ++ky) {
        for (int64_t kx = 0; kx < n.kernel[1]; ++kx) {
          for (int64_t cb = 0; cb < cs.c4; ++cb) {
            s->group_offsets.push_back(cb * cs.xi_pitch * 4 +
                                       (ky * n.dilation[0] * cs.wp + kx * n.dilation[1] + cs.view_shift) * 4);
          }
        }
      }
    }
    if (cs.tap_words) {
      // k-group (ci, ky, j) reads its channel's row phase's words from word 2j on; its weights
      // are taps 4j..4j+3 of kernel row ky of channel ci, zero past the kernel's width
      const int64_t kh = n.kernel[0], kw = n.kernel[1];
      std::fill(s->weights.begin(), s->weights.end(), int8_t{0});
      for (int64_t c = 0; c < cs.cout; ++c) {
        for (int64_t row = 0; row < cs.cin_g * kh; ++row) {
          for (int64_t kx = 0; kx < kw; ++kx) {
            s->weights[c * cs.kp + row * cs.row_words * 4 + kx] = static_cast<int8_t>(w.ci[c * cs.k + row * kw + kx]);
          }
        }
      }
      std::vector<int64_t> base(cs.word_rows.size(), 0);
      for (size_t r = 1; r < base.size(); ++r) base[r] = base[r - 1] + cs.word_rows[r - 1] * cs.word_w * 4;
      for (int64_t ci = 0; ci < cs.cin_g; ++ci) {
        for (int64_t ky = 0; ky < kh; ++ky) {
          for (int64_t j = 0; j < cs.row_words; ++j) {
            s->group_offsets.push_back(ci * cs.channel_words * 4 + base[static_cast<size_t>(ky % n.stride[0])] +
                                       ky / n.stride[0] * cs.word_w * 4 + j * WordShift(n) * 4);
          }
        }
      }
    }
    if (WinogradEligible(n, cs)) {
      std::vector<int8_t> rows(static_cast<size_t>(cs.cout * cs.k));  // [cout][cin][3][3]
      for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int8_t>(w.ci[i]);
      s->winograd_weights.resize(static_cast<size_t>(16 * cs.cout * WinogradPairs(cs.cin) * 2));
      PackWinogradWeights(rows.data(), cs.cout, cs.cin, s->winograd_weights.data());
      ctx.pool.total_bytes += static_cast<int64_t>(2 * s->winograd_weights.size());
    }
    if (cs.phased) {
      PackPhasedWeights(n, w, *s);
      pad_row_length = std::max(pad_row_length, cs.ph_h * cs.ph_w * n.stride[1] + 64);
    }
    // after the implicit GEMM's reordering of K: the widened rows are the kernel's operand
    if (!cs.depthwise) {
      s->weights_widened.resize(static_cast<size_t>(cs.cout * cs.kp));
      for (int64_t g = 0; g < cs.group; ++g) {
        const int64_t first = g * cs.cout_g * cs.kp;
        WidenLeftS8(s->weights.data() + first, cs.cout_g, cs.kp, s->weights_widened.data() + first);
      }
    }
    s->pad_row.assign(static_cast<size_t>(pad_row_length), static_cast<int8_t>(x.q.zero_point));
    s->zero_point = y.q.zero_point;
    s->qmin = n.qmin;
    s->qmax = n.qmax;
    ctx.pool.total_bytes += static_cast<int64_t>(s->weights.size() + 12 * s->bias.size() + 4 * s->word_weights.size());
    s->summary = "QConv " + n.name + " (" + std::to_string(n.kernel[0]) + "x" + std::to_string(n.kernel[1]) +
                 ", " + std::to_string(cs.cin) + "->" + std::to_string(cs.cout) +
                 (cs.group > 1 ? ", group " + std::to_string(cs.group) : "") +
                 (cs.depthwise ? ", depthwise" : "") +
                 (cs.phased ? (cs.padded_bytes == 0 ? ", stride phases in place" : ", stride phases") : "") +
                 (cs.tap_words ? ", tap words" : "") +
                 (cs.views ? (n.stride[1] == 2 ? ", stride-2 views" : ", compact views") : "") +
                 (s->winograd_weights.empty() ? "" : ", Winograd at avx2") + ", int8)";
    for (const Node& op : n.epilogue) {
      if (auto ratios = CheckRequantRatios(op, ctx); !ratios) {
        return Fail(ratios.error().Wrap("fused " + op.onnx_op + " '" + op.name + "'"));
      }
      QEpilogueOp e = BuildQEpilogueOp(op, ctx);
      if (!e.add && !s->epilogue.empty() && !s->epilogue.back().add) {
        // a lookup after a lookup: one table of the two
        for (int8_t& t : s->epilogue.back().table) t = e.table[static_cast<uint8_t>(t)];
      } else {
        s->epilogue.push_back(e);
      }
      s->summary += " + " + op.onnx_op;
    }
    return std::unique_ptr<Step>(std::move(s));
  }
  auto s = std::make_unique<QGemmStep>();
  s->n = w.shape[0];
  s->k = w.shape[1];
  s->m = x.elements / s->k;
  s->kp = RoundUp(s->k, 4);
  s->np = PackedColumns(s->n);
  s->x = ctx.RefOf(n.in[0]);
  s->out = ctx.Out(n);
  s->scratch = ctx.scratch_offset;
  std::vector<int8_t> rows(static_cast<size_t>(s->n * s->k));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int8_t>(w.ci[i]);
  s->packed.resize(static_cast<size_t>(s->kp * s->np));
  PackRightS8(rows.data(), s->n, s->k, s->np, s->kp, s->packed.data());
  s->bias.assign(static_cast<size_t>(s->np), 0);
  s->bias_signed.assign(static_cast<size_t>(s->np), 0);
  s->mult.assign(static_cast<size_t>(s->np), 0.0f);
  for (int64_t c = 0; c < s->n; ++c) {
    int64_t sum = 0;
    for (int64_t k = 0; k < s->k; ++k) sum += rows[c * s->k + k];
    s->bias[c] = static_cast<int32_t>(n.bias_q[c] - shift_zp * sum);
    s->bias_signed[c] = static_cast<int32_t>(n.bias_q[c] - x.q.zero_point * sum);
    s->mult[c] = x.q.scale * w.cscale[c] / y.q.scale;
    if (!std::isfinite(s->mult[c])) return NonFiniteMultiplier(c);
  }
  s->zero_point = y.q.zero_point;
  s->qmin = n.qmin;
  s->qmax = n.qmax;
  ctx.pool.total_bytes += static_cast<int64_t>(s->packed.size() + 12 * s->bias.size());
  s->summary = n.onnx_op + " " + n.name + " (" + std::to_string(s->m) + "x" + std::to_string(s->k) +
               "x" + std::to_string(s->n) + ", int8)";
  if (!n.epilogue.empty()) {  // FoldBiasAddIntoQGemm: one Add of a constant per column
    const Node& add = n.epilogue[0];
    const Value& c = ctx.V(add.in[1]);
    const Value& z = ctx.V(n.out[0]);
    s->column_add.assign(static_cast<size_t>(s->np), 0.0f);
    std::copy(c.cf.begin(), c.cf.end(), s->column_add.begin());
    s->add_params.add = s->column_add.data();
    s->add_params.scale_in = y.q.scale;
    s->add_params.scale_out = z.q.scale;
    s->add_params.zero_point_out = z.q.zero_point;
    s->add_params.lo = add.act_min;
    s->add_params.hi = add.act_max;
    s->codes_at = ctx.scratch_offset + RoundUp(s->m * s->kp, 64);
    s->summary += " + " + add.onnx_op + ClampSuffix(add);
    ctx.pool.total_bytes += static_cast<int64_t>(4 * s->column_add.size());
  }
  return std::unique_ptr<Step>(std::move(s));
}

}  // namespace edge::engine
