// kRecurrent: ONNX RNN, GRU and LSTM over a whole sequence, in float. Per direction, every time
// step's input projection X_t W^T + Wb is computed first (one pass over the sequence), then the
// steps run in order, each adding H_{t-1} R^T + Rb and applying the cell's gates. The products
// and the Sigmoid and Tanh gates are the tier's cell kernels (kernels/float_rows.h: the same bits
// on every tier); the other activations are the element-wise operators' (ApplyUnary).
#include <algorithm>
#include <cstring>
#include <limits>

#include "agent/engine/compile.h"
#include "agent/engine/kernels/elementwise.h"
#include "agent/engine/ops/unary_math.h"

namespace edge::engine {
namespace {

using Cell = RecurrentSpec::Cell;

void AddTo(float* __restrict y, const float* __restrict b, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += b[j];
}

class RecurrentStep : public Step {
 public:
  RecurrentSpec s;
  std::vector<UnaryParams> act;  // per direction: f[, g[, h]]
  Ref x, wt, rt, wb, rb, h0, c0, peep, lens;
  int64_t y = 0, yh = 0, yc = -1, scratch = 0;

  void Run(const ExecEnv& env) const override {
    const int64_t h = s.hidden, gh = s.Gates() * h, dirs = s.directions, batch = s.batch, seq = s.seq;
    int64_t* len = reinterpret_cast<int64_t*>(env.arena + scratch);  // [batch]: each row's length
    float* xw = reinterpret_cast<float*>(len + batch);                // [seq][batch][gh]
    float* hs = xw + seq * batch * gh;                          // [batch][h]
    float* cs = hs + batch * h;                                 // [batch][h]
    float* pre = cs + batch * h;                                // [gh]: a row's gate inputs
    float* gate = pre + gh;                                     // [gh]: its gates
    float* hr = gate + gh;                                      // [gh]: H R^T
    float* tmp = hr + gh;                                       // [h]
    const ElementwiseKernels& k = *env.elementwise;
    const float* X = x.Get<float>(env);
    float* Y = reinterpret_cast<float*>(env.arena + y);
    float* YH = reinterpret_cast<float*>(env.arena + yh);
    float* YC = yc >= 0 ? reinterpret_cast<float*>(env.arena + yc) : nullptr;
    // sequence_lens: a computed length outside [0, seq] is clamped (a step cannot fail; a
    // constant one is checked at load)
    const int32_t* L = s.lengths >= 0 ? lens.Get<int32_t>(env) : nullptr;
    for (int64_t b = 0; b < batch; ++b) len[b] = L != nullptr ? std::clamp<int64_t>(L[b], 0, seq) : seq;
    // Y's index of (t, d, b) and the states' of (d, b), in either layout
    auto y_at = [&](int64_t t, int64_t d, int64_t b) {
      return (s.batch_major ? ((b * seq + t) * dirs + d) : ((t * dirs + d) * batch + b)) * h;
    };
    auto state_at = [&](int64_t d, int64_t b) { return (s.batch_major ? b * dirs + d : d * batch + b) * h; };
    for (int64_t d = 0; d < dirs; ++d) {
      const float* Wt = wt.Get<float>(env) + d * s.input * gh;
      const float* Rt = rt.Get<float>(env) + d * h * gh;
      const float* Wb = wb.Get<float>(env) + d * gh;
      const float* Rb = rb.Get<float>(env) + d * gh;
      const float* P = s.peepholes >= 0 ? peep.Get<float>(env) + d * 3 * h : nullptr;
      const UnaryParams* f = &act[static_cast<size_t>(d * (s.cell == Cell::kRnn ? 1 : s.cell == Cell::kGru ? 2 : 3))];
      // every time step's X_t W^T of a batch row in one call (W read once per block of steps)
      for (int64_t b = 0; b < batch; ++b) {
        const float* xb = X + (s.batch_major ? b * seq : b) * s.input;
        k.rows_times_matrix(xb, seq, (s.batch_major ? 1 : batch) * s.input, s.input, Wt, gh, gh, xw + b * gh, batch * gh);
      }
      for (int64_t r = 0; r < seq * batch; ++r) AddTo(xw + r * gh, Wb, gh);
      for (int64_t b = 0; b < batch; ++b) {
        const int64_t at = state_at(d, b);
        if (s.initial_h >= 0) {
          std::memcpy(hs + b * h, h0.Get<float>(env) + at, static_cast<size_t>(h) * sizeof(float));
        } else {
          std::fill(hs + b * h, hs + (b + 1) * h, 0.0f);
        }
        if (s.initial_c >= 0) {
          std::memcpy(cs + b * h, c0.Get<float>(env) + at, static_cast<size_t>(h) * sizeof(float));
        } else {
          std::fill(cs + b * h, cs + (b + 1) * h, 0.0f);
        }
        for (int64_t t = len[b]; t < seq; ++t) std::fill(Y + y_at(t, d, b), Y + y_at(t, d, b) + h, 0.0f);
      }
      const bool backwards = s.reverse || d == 1;
      for (int64_t step = 0; step < seq; ++step) {
        for (int64_t b = 0; b < batch; ++b) {
          if (step >= len[b]) continue;
          const int64_t t = backwards ? len[b] - 1 - step : step;
          float* H = hs + b * h;
          float* C = cs + b * h;
          const float* xwr = xw + (t * batch + b) * gh;
          CellStep(k, xwr, Rt, Rb, P, f, H, C, pre, gate, hr, tmp);
          std::memcpy(Y + y_at(t, d, b), H, static_cast<size_t>(h) * sizeof(float));
        }
      }
      // a row of length 0 ran no step: its Y_h and Y_c are zeros, as ONNX Runtime gives
      for (int64_t b = 0; b < batch; ++b) {
        if (len[b] == 0) {
          std::fill(hs + b * h, hs + (b + 1) * h, 0.0f);
          std::fill(cs + b * h, cs + (b + 1) * h, 0.0f);
        }
        std::memcpy(YH + state_at(d, b), hs + b * h, static_cast<size_t>(h) * sizeof(float));
        if (YC != nullptr) std::memcpy(YC + state_at(d, b), cs + b * h, static_cast<size_t>(h) * sizeof(float));
      }
    }
  }

 private:
  // out = fn(v) for n gate inputs v, each first clamped to [-clip, clip] where the model gives a clip.
  void Activate(const ElementwiseKernels& k, const UnaryParams& fn, float* v, int64_t n, float* out) const {
    if (s.clip < std::numeric_limits<float>::infinity()) {
      for (int64_t j = 0; j < n; ++j) v[j] = std::min(std::max(v[j], -s.clip), s.clip);
    }
    Apply(k, fn, v, n, out);
  }

  // out = fn(v): Sigmoid and Tanh by the cell's own float kernels (kernels/float_rows.h), the
  // other activations as the element-wise operators compute them.
  static void Apply(const ElementwiseKernels& k, const UnaryParams& fn, const float* v, int64_t n, float* out) {
    if (fn.kind == UnaryKind::kSigmoid) return k.cell_activation(CellActivation::kSigmoid, v, n, out);
    if (fn.kind == UnaryKind::kTanh) return k.cell_activation(CellActivation::kTanh, v, n, out);
    UnaryRows(fn, k, v, out, n);
  }

  // One time step of one batch row: H (and C) updated in place from the input projection xw.
  // pre holds the gate inputs, gate the gates ([gh] each), hr H R^T, tmp one row of h.
  void CellStep(const ElementwiseKernels& k, const float* xw, const float* Rt, const float* Rb, const float* P, const UnaryParams* f, float* H, float* C,
                float* pre, float* gate, float* hr, float* tmp) const {
    const int64_t h = s.hidden, gh = s.Gates() * h;
    // one row times w's first n columns
    const auto mul = [&k](const float* x, int64_t rows, const float* w, int64_t ldw, int64_t n, float* y) {
      k.rows_times_matrix(x, 1, rows, rows, w, ldw, n, y, n);
    };
    switch (s.cell) {
      case Cell::kRnn: {
        mul(H, h, Rt, gh, h, hr);
        for (int64_t j = 0; j < h; ++j) pre[j] = xw[j] + (hr[j] + Rb[j]);
        Activate(k, f[0], pre, h, H);
        return;
      }
      case Cell::kGru: {
        // z and r: f(xw + (H R^T + Rb)); the candidate: g(xw_h + r * (H R_h^T + Rb_h)) with
        // linear_before_reset, else g(xw_h + ((r * H) R_h^T + Rb_h))
        mul(H, h, Rt, gh, s.linear_before_reset ? gh : 2 * h, hr);
        for (int64_t j = 0; j < 2 * h; ++j) pre[j] = xw[j] + (hr[j] + Rb[j]);
        Activate(k, f[0], pre, 2 * h, gate);
        const float* z = gate;
        const float* r = gate + h;
        float* cand = pre + 2 * h;
        if (s.linear_before_reset) {
          for (int64_t j = 0; j < h; ++j) cand[j] = xw[2 * h + j] + r[j] * (hr[2 * h + j] + Rb[2 * h + j]);
        } else {
          for (int64_t j = 0; j < h; ++j) tmp[j] = r[j] * H[j];
          mul(tmp, h, Rt + 2 * h, gh, h, hr + 2 * h);
          for (int64_t j = 0; j < h; ++j) cand[j] = xw[2 * h + j] + (hr[2 * h + j] + Rb[2 * h + j]);
        }
        Activate(k, f[1], cand, h, gate + 2 * h);
        for (int64_t j = 0; j < h; ++j) H[j] = (1.0f - z[j]) * gate[2 * h + j] + z[j] * H[j];
        return;
      }
      case Cell::kLstm: {
        // gates i, o, f, c at 0, h, 2h, 3h (ONNX's order); peepholes P: i, o, f
        mul(H, h, Rt, gh, gh, hr);
        for (int64_t j = 0; j < gh; ++j) pre[j] = xw[j] + (hr[j] + Rb[j]);
        if (P != nullptr) {
          for (int64_t j = 0; j < h; ++j) pre[j] += P[j] * C[j];
          for (int64_t j = 0; j < h; ++j) pre[2 * h + j] += P[2 * h + j] * C[j];
        }
        float* gi = gate;
        float* go = gate + h;
        float* gf = gate + 2 * h;
        float* gc = gate + 3 * h;
        Activate(k, f[0], pre, h, gi);
        if (s.input_forget) {
          for (int64_t j = 0; j < h; ++j) gf[j] = 1.0f - gi[j];
        } else {
          Activate(k, f[0], pre + 2 * h, h, gf);
        }
        Activate(k, f[1], pre + 3 * h, h, gc);
        for (int64_t j = 0; j < h; ++j) C[j] = gf[j] * C[j] + gi[j] * gc[j];
        if (P != nullptr) {
          for (int64_t j = 0; j < h; ++j) pre[h + j] += P[h + j] * C[j];
        }
        Activate(k, f[0], pre + h, h, go);
        Apply(k, f[2], C, h, tmp);
        for (int64_t j = 0; j < h; ++j) H[j] = go[j] * tmp[j];
        return;
      }
    }
  }
};

}  // namespace

int64_t RecurrentScratchBytes(const Node& n) {
  const RecurrentSpec& s = *n.recurrent;
  const int64_t gh = s.Gates() * s.hidden;
  return s.batch * static_cast<int64_t>(sizeof(int64_t)) +
         (s.seq * s.batch * gh + 2 * s.batch * s.hidden + 3 * gh + s.hidden) * static_cast<int64_t>(sizeof(float));
}

Result<std::unique_ptr<Step>> BuildRecurrentStep(const Node& n, BuildContext& ctx) {
  if (n.recurrent == nullptr || ctx.scratch_offset < 0) return Fail(ErrorCode::kInternal, "recurrent node without its spec or scratch");
  auto st = std::make_unique<RecurrentStep>();
  st->s = *n.recurrent;
  for (const RecurrentSpec::Activation& a : st->s.activations) st->act.push_back(UnaryParams{a.kind, a.alpha, a.beta});
  st->x = ctx.RefOf(n.in[0]);
  st->wt = ctx.RefOf(n.in[1]);
  st->rt = ctx.RefOf(n.in[2]);
  st->wb = ctx.RefOf(n.in[3]);
  st->rb = ctx.RefOf(n.in[4]);
  auto optional = [&](int position, Ref& ref) {
    if (position >= 0) ref = ctx.RefOf(n.in[static_cast<size_t>(position)]);
  };
  optional(st->s.initial_h, st->h0);
  optional(st->s.initial_c, st->c0);
  optional(st->s.peepholes, st->peep);
  optional(st->s.lengths, st->lens);
  st->y = ctx.Out(n, 0);
  st->yh = ctx.Out(n, 1);
  if (n.out.size() > 2) st->yc = ctx.Out(n, 2);
  st->scratch = ctx.scratch_offset;
  const RecurrentSpec& s = st->s;
  st->summary = n.onnx_op + " " + n.name + " (" + std::to_string(s.seq) + " steps of batch " + std::to_string(s.batch) +
                ", " + std::to_string(s.input) + " -> " + std::to_string(s.hidden) +
                (s.directions == 2 ? ", bidirectional" : s.reverse ? ", reverse" : "") + ", float)";
  return std::unique_ptr<Step>(std::move(st));
}

}  // namespace edge::engine
