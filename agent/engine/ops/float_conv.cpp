// Float32 Conv (1-D, 2-D and 3-D, grouped, strided, padded, dilated) with its fused clamp, and
// ConvTranspose (1-D, 2-D). Written as accumulate-a-shifted-row so the inner loop is contiguous
// for stride 1.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/elementwise.h"

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

void SetWindow(FloatWindowStep& s, const Node& n, BuildContext& ctx) {
  const Value& x = ctx.V(n.in[0]);
  const Value& y = ctx.V(n.out[0]);
  s.x = ctx.RefOf(n.in[0]);
  s.w = ctx.RefOf(n.in[1]);
  if (n.in.size() > 2) {
    s.has_bias = true;
    s.bias = ctx.RefOf(n.in[2]);
  }
  s.batch = x.shape[0];
  s.cin = x.shape[1];
  s.cout = y.shape[1];
  s.group = n.group;
  const size_t rank = x.shape.size();  // 3, 4 or 5: NCW, NCHW, NCDHW
  s.ih = rank >= 4 ? x.shape[rank - 2] : 1;
  s.iw = x.shape.back();
  s.oh = rank >= 4 ? y.shape[rank - 2] : 1;
  s.ow = y.shape.back();
  s.kh = n.kernel[0]; s.kw = n.kernel[1];
  s.sh = n.stride[0]; s.sw = n.stride[1];
  s.dh = n.dilation[0]; s.dw = n.dilation[1];
  s.pt = n.pad[0]; s.pl = n.pad[1];
  s.out = ctx.Out(n);
}

class FloatConvStep : public FloatWindowStep {
 public:
  // Depth of a 3-D conv (1 and 0 otherwise): input and output extents, kernel, stride, dilation, front pad.
  int64_t id = 1, od = 1, kd = 1, sd = 1, dd = 1, pf = 0;
  float lo = -INFINITY, hi = INFINITY;

  // The plane form's tables (FloatConvPlaneArgs; empty where the conv takes the rows): maps
  // whose rows fill less than a vector.
  std::vector<int32_t> plane_row0, plane_col0, plane_base;
  bool plane_contiguous = false;
  int64_t plane_shift = 0;

  void Run(const ExecEnv& env) const override {
    const auto [X, W, B, Y] = Bind(env);
    if (env.elementwise->float_conv_plane != nullptr && !plane_row0.empty()) {
      return RunPlane(env.elementwise->float_conv_plane, X, W, B, Y);
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

  // The tier's plane kernel, the same sums in the same order: one call per batch element.
  void RunPlane(FloatConvPlaneFn kernel, const float* X, const float* W, const float* B, float* Y) const {
    const int64_t cin_g = cin / group, cout_g = cout / group, plane = ih * iw, out_plane = oh * ow;
    for (int64_t b = 0; b < batch; ++b) {
      kernel({X + b * cin * plane, plane, cin_g * plane, W, cin_g * kh * kw, B, group, cout_g, cin_g, ih, iw, kh, kw, dh,
              dw, plane_row0.data(), plane_col0.data(), plane_base.data(), plane_contiguous, plane_shift, out_plane, lo,
              hi, Y + b * cout * out_plane, out_plane, cout_g * out_plane});
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
  // The plane form (FloatConvPlaneArgs) for 2-D and 1-D convs whose plane and window its kernels
  // take, where the rows would leave AVX-512 vectors part empty (rows narrower than 16, or under
  // 80 % filled: a 20-wide row is 16 + 4), and for 1x1 convs: when a tap's inputs are one load
  // (stride-1 columns and rows of the input's width), always; gathered, only where the row
  // kernels gather too (column strides above 2) or rows of at most 8. Against the row kernels'
  // stride-2 loads the gathers measured slower at 14 columns (multiscale_concat's 3x3 stride-2
  // 32 -> 16: 62 against 41 us), even at 7 (75-79 us), faster at 8 (ResNet-8's stride-2 1x1
  // 32 -> 64: 11.6 against 21.5) and at 5 (DS-CNN's stem: 10.8 against 24.5).
  const int64_t pixels = s->oh * s->ow;
  const bool contiguous = (s->ow == 1 || s->sw == 1) && (s->oh == 1 || s->sh * s->iw == s->ow);
  const bool underfilled = s->ow < 16 || s->ow * 10 < (s->ow + 15) / 16 * 16 * 8;
  const bool plane_form = contiguous ? underfilled || s->kh * s->kw == 1 : s->ow <= 8 || (underfilled && s->sw > 2);
  // (the tables are int32, so are the extents)
  constexpr int64_t kSmall = int64_t{1} << 28;
  const bool int32_tables = s->ih * s->iw < kSmall && s->pt < kSmall && s->pl < kSmall && s->oh * s->sh < kSmall &&
                            s->ow * s->sw < kSmall && (s->kh - 1) * s->dh < kSmall && (s->kw - 1) * s->dw < kSmall;
  if (rank <= 4 && plane_form && pixels <= kFloatConvPlaneMaxPixels &&
      s->kh * s->kw <= kFloatConvPlaneMaxTaps && int32_tables) {
    const int64_t padded = (pixels + 15) / 16 * 16;
    // past the pixels: a row0 below every tap's reach, so no lane there adds anything
    const int32_t nowhere = -(int32_t{1} << 29);
    s->plane_row0.assign(static_cast<size_t>(padded), nowhere);
    s->plane_col0.assign(static_cast<size_t>(padded), 0);
    s->plane_base.assign(static_cast<size_t>(padded), 0);
    s->plane_contiguous = contiguous;  // then base[p] = p + shift
    s->plane_shift = -s->pt * s->iw - s->pl;
    for (int64_t p = 0; p < pixels; ++p) {
      const int64_t r = p / s->ow * s->sh - s->pt, c = p % s->ow * s->sw - s->pl;
      s->plane_row0[static_cast<size_t>(p)] = static_cast<int32_t>(r);
      s->plane_col0[static_cast<size_t>(p)] = static_cast<int32_t>(c);
      s->plane_base[static_cast<size_t>(p)] = static_cast<int32_t>(r * s->iw + c);
    }
  }
  s->summary = "Conv " + n.name + " (" + (rank == 5 ? std::to_string(s->kd) + "x" : "") + std::to_string(s->kh) + "x" + std::to_string(s->kw) + ", " +
               std::to_string(s->cin) + "->" + std::to_string(s->cout) +
               (s->group > 1 ? ", group " + std::to_string(s->group) : "") + ", float" +
               (s->plane_row0.empty() ? "" : ", whole-plane vectors at avx2 and up") + ")";
  return std::unique_ptr<Step>(std::move(s));
}

}  // namespace edge::engine
