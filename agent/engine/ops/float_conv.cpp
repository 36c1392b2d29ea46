// Float32 Conv (1-D, 2-D and 3-D, grouped, strided, padded, dilated) with its fused clamp, and
// ConvTranspose (1-D, 2-D). Written as accumulate-a-shifted-row so the inner loop is contiguous
// for stride 1.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/kernels/im2col_u8.h"

namespace edge::engine {
namespace {

// What a float Conv and a ConvTranspose step share: operands, extents and the window (always
// 2-D: a 1-D one is 1 x L; a 3-D conv keeps its depth apart).
class FloatWindowStep : public Step {
 public:
  Ref x, w, bias;
  bool has_bias = false;
  int64_t out = 0, batch = 0, cin = 0, cout = 0, group = 1, ih = 0, iw = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;

 protected:
  struct Operands {
    const float* X;
    const float* W;
    const float* B;  // null without a bias
    float* Y;
  };
  Operands Bind(const ExecEnv& env) const {
    return {x.Get<float>(env), w.Get<float>(env), has_bias ? bias.Get<float>(env) : nullptr,
            reinterpret_cast<float*>(env.arena + out)};
  }
};

// The indices i in [0, n) with i * stride + off in [0, limit), as [first, end).
std::pair<int64_t, int64_t> StridedRange(int64_t n, int64_t stride, int64_t off, int64_t limit) {
  int64_t first = 0, end = n;
  while (first < n && first * stride + off < 0) ++first;
  while (end > first && (end - 1) * stride + off >= limit) --end;
  return {first, end};
}

// A 2-D window of a Conv or ConvTranspose node (a 1-D one is 1 x L; a 3-D conv's depth apart).
struct ConvWindow {
  int64_t batch, cin, cout, group, ih, iw, oh, ow, kh, kw, sh, sw, dh, dw, pt, pl;
  size_t rank;  // of the input: 3, 4 or 5 (NCW, NCHW, NCDHW)
};

ConvWindow WindowOf(const Node& n, const Graph& g) {
  const Value& x = g.values[n.in[0]];
  const Value& y = g.values[n.out[0]];
  const size_t rank = x.shape.size();
  return {x.shape[0], x.shape[1], y.shape[1], n.group, rank >= 4 ? x.shape[rank - 2] : 1, x.shape.back(),
          rank >= 4 ? y.shape[rank - 2] : 1, y.shape.back(), n.kernel[0], n.kernel[1], n.stride[0], n.stride[1],
          n.dilation[0], n.dilation[1], n.pad[0], n.pad[1], rank};
}

void SetWindow(FloatWindowStep& s, const Node& n, BuildContext& ctx) {
  s.x = ctx.RefOf(n.in[0]);
  s.w = ctx.RefOf(n.in[1]);
  if (n.in.size() > 2) {
    s.has_bias = true;
    s.bias = ctx.RefOf(n.in[2]);
  }
  const ConvWindow w = WindowOf(n, ctx.graph);
  s.batch = w.batch, s.cin = w.cin, s.cout = w.cout, s.group = w.group;
  s.ih = w.ih, s.iw = w.iw, s.oh = w.oh, s.ow = w.ow;
  s.kh = w.kh, s.kw = w.kw, s.sh = w.sh, s.sw = w.sw, s.dh = w.dh, s.dw = w.dw, s.pt = w.pt, s.pl = w.pl;
  s.out = ctx.Out(n);
}

// Whether a float Conv takes the plane form (FloatConvPlaneArgs), and how its taps read.
//
// The plane form serves 2-D and 1-D convs whose plane and window its kernels take. A tap's
// inputs for a vector of pixels are one load where each pixel's input is the pixel's index
// plus a constant: `contiguous` (stride-1 columns, rows of the input's width), or `phased`: a
// strided conv's input split first into its stride phases (plane (a, b) holds input rows a,
// a + sh, ... and columns b, b + sw, ..., each phase row ow wide), so that a tap reads one
// phase at pixel + constant, which needs every tap inside the map to land within ow columns of
// its phase ((kw - 1) dw - pl < sw: a same-padded stride-2 3x3). Else the taps gather.
//
// Contiguous convs always take it: against the row kernels (fp32 zoo models, `--profile`, the
// Zen 4 EPYC) DS-CNN's 25 x 5 depthwise 28 -> 2.7 us and 1x1 23 -> 4.4, the MobileNet block's
// 32 x 32 depthwise 28 -> 10.4, ResNet-8's 32 x 32 3x3 16 -> 16 77 -> 68, multiscale_concat's
// 28 x 28 3x3s 11-24 -> 9-20 and 1x1s 4.3 -> 3.0, gated_tcn's 1-D 1x3s 6.3 -> 5.7; ResNet-8's
// 16 x 16 32 -> 32 64-69 both ways. Strided convs take it where the row kernels are weakest:
// rows of at most 8, or column strides above 2 (the rows gather too) on rows that leave an
// AVX-512 vector part empty (under 16, or under 80 % filled: 20 = 16 + 4); phased where its
// taps allow (the split copies only the phases a tap reads), else gathered. Measured per conv:
// ResNet-8's 3x3 stride-2 32 -> 64 to 8 columns 88 (gathered) -> 46 us phased,
// multiscale_concat's 64 -> 32 to 7 columns 75 -> 43; at 14 columns (its 32 -> 16) the rows'
// stride-2 loads 42, phased 44, gathered 62; ResNet-8's stride-2 1x1 to 8 columns gathered 9.4
// us, phased 6.4, rows 21.5; the MobileNet block's stride-2 depthwise to 8 columns gathered
// 14.3, phased 13.7.
struct PlaneLayout {
  bool use = false, contiguous = false, phased = false;
  int64_t phase_rows = 0;  // phased: rows of each phase plane (ceil(ih / sh))

  // phased: the split of one batch element's input
  int64_t ScratchBytes(const ConvWindow& w) const {
    return phased ? w.cin * w.sh * w.sw * phase_rows * w.ow * static_cast<int64_t>(sizeof(float)) : 0;
  }
};

PlaneLayout PlaneLayoutOf(const ConvWindow& w) {
  PlaneLayout l;
  const int64_t pixels = w.oh * w.ow;
  constexpr int64_t kSmall = int64_t{1} << 28;  // the tables are int32, so are the extents
  const bool int32_tables = w.ih * w.iw < kSmall && w.pt < kSmall && w.pl < kSmall && w.oh * w.sh < kSmall &&
                            w.ow * w.sw < kSmall && (w.kh - 1) * w.dh < kSmall && (w.kw - 1) * w.dw < kSmall;
  if (w.rank > 4 || pixels > kFloatConvPlaneMaxPixels || w.kh * w.kw > kFloatConvPlaneMaxTaps || !int32_tables) return l;
  const bool underfilled = w.ow < 16 || w.ow * 10 < (w.ow + 15) / 16 * 16 * 8;
  l.contiguous = (w.ow == 1 || w.sw == 1) && (w.oh == 1 || w.sh * w.iw == w.ow);
  if (l.contiguous) {
    l.use = true;
  } else {
    l.use = w.ow <= 8 || (underfilled && w.sw > 2);
    // (at most 16 phases: the split lays out all sh x sw of them, about the input's size each
    // time a stride is under its extent, but a stride far past it would multiply the scratch)
    l.phased = l.use && (w.kw - 1) * w.dw - w.pl < w.sw && w.pl >= 0 && w.pt >= 0 && w.sh * w.sw <= 16;
  }
  if (l.phased) l.phase_rows = (w.ih + w.sh - 1) / w.sh;
  return l;
}

class FloatConvStep : public FloatWindowStep {
 public:
  // Depth of a 3-D conv (1 and 0 otherwise): input and output extents, kernel, stride, dilation, front pad.
  int64_t id = 1, od = 1, kd = 1, sd = 1, dd = 1, pf = 0;
  float lo = -INFINITY, hi = INFINITY;

  // The plane form (PlaneLayoutOf; the tables empty where the conv takes the rows): per output
  // pixel its window's origin, per tap where it reads (FloatConvPlaneArgs).
  PlaneLayout plane;
  std::vector<int32_t> plane_row0, plane_col0, plane_base;
  std::vector<int64_t> tap_offsets;
  std::vector<bool> phase_used;  // phased: [a sw + c], whether a tap reads phase (a, c)
  int64_t scratch = 0;  // phased: the stride phases of one batch element

  void Run(const ExecEnv& env) const override {
    const auto [X, W, B, Y] = Bind(env);
    if (env.elementwise->float_conv_plane != nullptr && plane.use) {
      return RunPlane(env.elementwise->float_conv_plane, X, W, B, Y, reinterpret_cast<float*>(env.arena + scratch));
    }
    if (env.elementwise->float_conv_row != nullptr && kd * kh <= kMaxWindowRows && kw <= kFloatConvMaxTaps) {
      return RunRows(env.elementwise->float_conv_row, X, W, B, Y);
    }
    const int64_t cin_g = cin / group, cout_g = cout / group;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t oc = 0; oc < cout; ++oc) {
        for (int64_t oz = 0; oz < od; ++oz) {
          const int64_t g = oc / cout_g;
          float* plane = Y + ((b * cout + oc) * od + oz) * oh * ow;
          const float init = B != nullptr ? B[oc] : 0.0f;
          for (int64_t i = 0; i < oh * ow; ++i) plane[i] = init;
          for (int64_t ic = 0; ic < cin_g; ++ic) {
            for (int64_t kz = 0; kz < kd; ++kz) {
              const int64_t iz = oz * sd - pf + kz * dd;
              if (iz < 0 || iz >= id) continue;
              const float* src = X + ((b * cin + g * cin_g + ic) * id + iz) * ih * iw;
              for (int64_t ky = 0; ky < kh; ++ky) {
                for (int64_t kx = 0; kx < kw; ++kx) {
                  const float wv = W[(((oc * cin_g + ic) * kd + kz) * kh + ky) * kw + kx];
                  // output columns whose input column lies inside the image
                  const int64_t off = kx * dw - pl;
                  const auto [ox0, ox1] = StridedRange(ow, sw, off, iw);
                  for (int64_t oy = 0; oy < oh; ++oy) {
                    const int64_t iy = oy * sh - pt + ky * dh;
                    if (iy < 0 || iy >= ih) continue;
                    const float* srow = src + iy * iw + off;
                    float* drow = plane + oy * ow;
                    if (sw == 1) {
                      for (int64_t ox = ox0; ox < ox1; ++ox) drow[ox] += wv * srow[ox];
                    } else {
                      for (int64_t ox = ox0; ox < ox1; ++ox) drow[ox] += wv * srow[ox * sw];
                    }
                  }
                }
              }
            }
          }
          for (int64_t i = 0; i < oh * ow; ++i) plane[i] = std::min(std::max(plane[i], lo), hi);
        }
      }
    }
  }

 private:
  static constexpr int64_t kMaxWindowRows = 256;

  // The tier's plane kernel, the same sums in the same order: one call per batch element (its
  // input split into stride phases first where the layout says so).
  void RunPlane(FloatConvPlaneFn kernel, const float* X, const float* W, const float* B, float* Y, float* phases) const {
    const int64_t cin_g = cin / group, cout_g = cout / group, plane_in = ih * iw, out_plane = oh * ow;
    const int64_t phase_plane = plane.phase_rows * ow, x_ic = plane.phased ? sh * sw * phase_plane : plane_in;
    for (int64_t b = 0; b < batch; ++b) {
      const float* x = X + b * cin * plane_in;
      if (plane.phased) {
        SplitPhases(x, phases, phase_plane);
        x = phases;
      }
      kernel({x, x_ic, cin_g * x_ic, W, cin_g * kh * kw, B, group, cout_g, cin_g, ih, iw, kh, kw, dh, dw,
              plane_row0.data(), plane_col0.data(), plane_base.data(), tap_offsets.data(),
              plane.contiguous || plane.phased, out_plane, lo, hi, Y + b * cout * out_plane, out_plane,
              cout_g * out_plane});
    }
  }

  // Every input channel's stride phases that a tap reads (phase_used): phase (a, c) of channel
  // ch at phases + (ch sh sw + a sw + c) phase_plane, row i, column j < ow: x[ch][i sh + a][j sw
  // + c], 0 past the input.
  void SplitPhases(const float* x, float* phases, int64_t phase_plane) const {
    float* dst = phases;
    for (int64_t ch = 0; ch < cin; ++ch) {
      const float* src = x + ch * ih * iw;
      for (int64_t a = 0; a < sh; ++a) {
        for (int64_t c = 0; c < sw; ++c, dst += phase_plane) {
          if (!phase_used[static_cast<size_t>(a * sw + c)]) continue;
          const int64_t inside = c < iw ? std::min(ow, (iw - c + sw - 1) / sw) : 0;  // columns j with j sw + c < iw
          for (int64_t i = 0; i < plane.phase_rows; ++i) {
            float* row = dst + i * ow;
            const int64_t iy = i * sh + a;
            int64_t j = 0;
            if (iy < ih) {
              const float* in = src + iy * iw + c;
              if (sw == 2) {  // (the common stride as a constant; its loop measured with it)
                for (; j < inside; ++j) row[j] = in[2 * j];
              } else {
                for (; j < inside; ++j) row[j] = in[j * sw];
              }
            }
            for (; j < ow; ++j) row[j] = 0.0f;
          }
        }
      }
    }
  }

  // The tier's row kernel, the same sums in the same order: per output row, the window rows
  // inside the input listed once, every output channel of a group in one call.
  void RunRows(FloatConvRowFn kernel, const float* X, const float* W, const float* B, float* Y) const {
    const int64_t cin_g = cin / group, cout_g = cout / group;
    const int64_t plane = id * ih * iw, out_plane = od * oh * ow, taps = kd * kh * kw, w_pitch = cin_g * taps;
    int64_t x_rows[kMaxWindowRows], w_rows[kMaxWindowRows];
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t g = 0; g < group; ++g) {
        const float* xg = X + (b * cin + g * cin_g) * plane;
        const float* wg = W + g * cout_g * w_pitch;
        const float* bg = B != nullptr ? B + g * cout_g : nullptr;
        for (int64_t oz = 0; oz < od; ++oz) {
          for (int64_t oy = 0; oy < oh; ++oy) {
            int64_t rows = 0;
            for (int64_t kz = 0; kz < kd; ++kz) {
              const int64_t iz = oz * sd - pf + kz * dd;
              if (iz < 0 || iz >= id) continue;
              for (int64_t ky = 0; ky < kh; ++ky) {
                const int64_t iy = oy * sh - pt + ky * dh;
                if (iy < 0 || iy >= ih) continue;
                x_rows[rows] = (iz * ih + iy) * iw;
                w_rows[rows] = (kz * kh + ky) * kw;
                ++rows;
              }
            }
            float* y = Y + (b * cout + g * cout_g) * out_plane + (oz * oh + oy) * ow;
            kernel({xg, plane, wg, w_pitch, taps, bg, cout_g, cin_g, x_rows, w_rows, rows, kw, sw, dw, pl, iw, ow, lo, hi, y,
                    out_plane});
          }
        }
      }
    }
  }
};

// ConvTranspose, direct: every input element times each weight of its channel adds into the
// output element it lands on (oy = iy * sh - pt + ky * dh, ox likewise). Weights are
// [C_in, C_out / group, kh, kw].
class FloatConvTransposeStep : public FloatWindowStep {
 public:
  void Run(const ExecEnv& env) const override {
    const auto [X, W, B, Y] = Bind(env);
    const int64_t cin_g = cin / group, cout_g = cout / group;
    for (int64_t b = 0; b < batch; ++b) {
      for (int64_t oc = 0; oc < cout; ++oc) {
        const int64_t g = oc / cout_g;
        float* plane = Y + (b * cout + oc) * oh * ow;
        const float init = B != nullptr ? B[oc] : 0.0f;
        for (int64_t i = 0; i < oh * ow; ++i) plane[i] = init;
        for (int64_t icg = 0; icg < cin_g; ++icg) {
          const int64_t ic = g * cin_g + icg;
          const float* src = X + (b * cin + ic) * ih * iw;
          for (int64_t ky = 0; ky < kh; ++ky) {
            for (int64_t kx = 0; kx < kw; ++kx) {
              const float wv = W[((ic * cout_g + oc % cout_g) * kh + ky) * kw + kx];
              // input columns whose output column lies inside the output
              const int64_t off = kx * dw - pl;
              const auto [ix0, ix1] = StridedRange(iw, sw, off, ow);
              for (int64_t iy = 0; iy < ih; ++iy) {
                const int64_t oy = iy * sh - pt + ky * dh;
                if (oy < 0 || oy >= oh) continue;
                const float* srow = src + iy * iw;
                float* drow = plane + oy * ow + off;
                if (sw == 1) {
                  for (int64_t ix = ix0; ix < ix1; ++ix) drow[ix] += wv * srow[ix];
                } else {
                  for (int64_t ix = ix0; ix < ix1; ++ix) drow[ix * sw] += wv * srow[ix];
                }
              }
            }
          }
        }
      }
    }
  }
};

}  // namespace

Result<std::unique_ptr<Step>> BuildFloatConvTransposeStep(const Node& n, BuildContext& ctx) {
  auto s = std::make_unique<FloatConvTransposeStep>();
  SetWindow(*s, n, ctx);
  s->summary = "ConvTranspose " + n.name + " (" + std::to_string(s->kh) + "x" + std::to_string(s->kw) + "/" +
               std::to_string(s->sh) + "x" + std::to_string(s->sw) + ", " + std::to_string(s->cin) + "->" +
               std::to_string(s->cout) + (s->group > 1 ? ", group " + std::to_string(s->group) : "") + ", float)";
  return std::unique_ptr<Step>(std::move(s));
}

int64_t FloatConvScratchBytes(const Node& n, const Graph& g) {
  if (n.kind != OpKind::kConv) return 0;
  const ConvWindow w = WindowOf(n, g);  // (PlaneLayoutOf: no plane form, so no scratch, for 3-D convs)
  return PlaneLayoutOf(w).ScratchBytes(w);
}

Result<std::unique_ptr<Step>> BuildFloatConvStep(const Node& n, BuildContext& ctx) {
  if (n.kind == OpKind::kConvTranspose) return BuildFloatConvTransposeStep(n, ctx);
  auto s = std::make_unique<FloatConvStep>();
  SetWindow(*s, n, ctx);
  const Value& x = ctx.V(n.in[0]);
  const Value& y = ctx.V(n.out[0]);
  const size_t rank = x.shape.size();
  if (rank == 5) {
    s->id = x.shape[2];
    s->od = y.shape[2];
    s->kd = n.depth_kernel;
    s->sd = n.depth_stride;
    s->dd = n.depth_dilation;
    s->pf = n.depth_pad[0];
  }
  s->lo = n.act_min;
  s->hi = n.act_max;
  s->plane = PlaneLayoutOf(WindowOf(n, ctx.graph));
  if (s->plane.use) {
    const int64_t pixels = s->oh * s->ow, padded = (pixels + 15) / 16 * 16;
    // past the pixels: a row0 below every tap's reach, so no lane there adds anything
    const int32_t nowhere = -(int32_t{1} << 29);
    s->plane_row0.assign(static_cast<size_t>(padded), nowhere);
    s->plane_col0.assign(static_cast<size_t>(padded), 0);
    s->plane_base.assign(static_cast<size_t>(padded), 0);
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t r = p / s->ow * s->sh - s->pt, c = p % s->ow * s->sw - s->pl;
      s->plane_row0[static_cast<size_t>(p)] = static_cast<int32_t>(r);
      s->plane_col0[static_cast<size_t>(p)] = static_cast<int32_t>(c);
      s->plane_base[static_cast<size_t>(p)] = static_cast<int32_t>(r * s->iw + c);
    }
    if (s->plane.phased) s->phase_used.assign(static_cast<size_t>(s->sh * s->sw), false);
    // where tap (ky, kx) reads for pixel 0 (with pixel p's index added, or its base gathered)
    for (int64_t ky = 0; ky < s->kh; ++ky) {
      for (int64_t kx = 0; kx < s->kw; ++kx) {
        int64_t offset = ky * s->dh * s->iw + kx * s->dw;  // gathered: from base[p]
        if (s->plane.contiguous) offset -= s->pt * s->iw + s->pl;
        if (s->plane.phased) {
          // the tap's phase (a, c) and its row and column from the pixel's (kernels/im2col_u8.h's
          // FloorDiv: taps above or left of the map)
          const int64_t di = FloorDiv(ky * s->dh - s->pt, s->sh), a = ky * s->dh - s->pt - di * s->sh;
          const int64_t dj = FloorDiv(kx * s->dw - s->pl, s->sw), c = kx * s->dw - s->pl - dj * s->sw;
          offset = (a * s->sw + c) * s->plane.phase_rows * s->ow + di * s->ow + dj;
          s->phase_used[static_cast<size_t>(a * s->sw + c)] = true;
        }
        s->tap_offsets.push_back(offset);
      }
    }
    s->scratch = ctx.scratch_offset;
  }
  s->summary = "Conv " + n.name + " (" + (rank == 5 ? std::to_string(s->kd) + "x" : "") + std::to_string(s->kh) + "x" + std::to_string(s->kw) + ", " +
               std::to_string(s->cin) + "->" + std::to_string(s->cout) +
               (s->group > 1 ? ", group " + std::to_string(s->group) : "") + ", float" +
               (!s->plane.use ? "" : s->plane.phased ? ", whole-plane vectors of stride phases at avx2 and up" : ", whole-plane vectors at avx2 and up") + ")";
  return std::unique_ptr<Step>(std::move(s));
}

}  // namespace edge::engine
