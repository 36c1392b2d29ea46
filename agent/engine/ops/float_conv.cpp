// Float32 Conv (1-D, 2-D and 3-D, grouped, strided, padded, dilated) with its fused clamp.
// Written as accumulate-a-shifted-row so the inner loop is contiguous for stride 1.
#include <algorithm>
#include <cmath>

#include "agent/engine/compile.h"

namespace edge::engine {
namespace {

class FloatConvStep : public Step {
 public:
  Ref x, w, bias;
  bool has_bias = false;
  int64_t out = 0, batch = 0, cin = 0, cout = 0, group = 1, ih = 0, iw = 0, oh = 0, ow = 0;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0;
  // Depth of a 3-D conv (1 and 0 otherwise): input and output extents, kernel, stride, dilation, front pad.
  int64_t id = 1, od = 1, kd = 1, sd = 1, dd = 1, pf = 0;
  float lo = -INFINITY, hi = INFINITY;

  void Run(const ExecEnv& env) const override {
    const float* X = x.Get<float>(env);
    const float* W = w.Get<float>(env);
    const float* B = has_bias ? bias.Get<float>(env) : nullptr;
    float* Y = reinterpret_cast<float*>(env.arena + out);
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
                  int64_t ox0 = 0;
                  while (ox0 < ow && ox0 * sw + off < 0) ++ox0;
                  int64_t ox1 = ow;
                  while (ox1 > ox0 && (ox1 - 1) * sw + off >= iw) --ox1;
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
};

}  // namespace

Result<std::unique_ptr<Step>> BuildFloatConvStep(const Node& n, BuildContext& ctx) {
  auto s = std::make_unique<FloatConvStep>();
  const Value& x = ctx.V(n.in[0]);
  const Value& w = ctx.V(n.in[1]);
  const Value& y = ctx.V(n.out[0]);
  s->x = ctx.RefOf(n.in[0]);
  s->w = ctx.RefOf(n.in[1]);
  if (n.in.size() > 2) {
    s->has_bias = true;
    s->bias = ctx.RefOf(n.in[2]);
  }
  s->batch = x.shape[0];
  s->cin = x.shape[1];
  s->cout = w.shape[0];
  s->group = n.group;
  const size_t rank = x.shape.size();  // 3, 4 or 5: NCW, NCHW, NCDHW
  s->ih = rank >= 4 ? x.shape[rank - 2] : 1;
  s->iw = x.shape.back();
  s->oh = rank >= 4 ? y.shape[rank - 2] : 1;
  s->ow = y.shape.back();
  if (rank == 5) {
    s->id = x.shape[2];
    s->od = y.shape[2];
    s->kd = n.depth_kernel;
    s->sd = n.depth_stride;
    s->dd = n.depth_dilation;
    s->pf = n.depth_pad[0];
  }
  s->kh = n.kernel[0]; s->kw = n.kernel[1];
  s->sh = n.stride[0]; s->sw = n.stride[1];
  s->dh = n.dilation[0]; s->dw = n.dilation[1];
  s->pt = n.pad[0]; s->pl = n.pad[1];
  s->lo = n.act_min;
  s->hi = n.act_max;
  s->out = ctx.Out(n);
  s->summary = "Conv " + n.name + " (" + (rank == 5 ? std::to_string(s->kd) + "x" : "") + std::to_string(s->kh) + "x" + std::to_string(s->kw) + ", " +
               std::to_string(s->cin) + "->" + std::to_string(s->cout) +
               (s->group > 1 ? ", group " + std::to_string(s->group) : "") + ", float)";
  return std::unique_ptr<Step>(std::move(s));
}

}  // namespace edge::engine
