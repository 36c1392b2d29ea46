// RNN, GRU and LSTM: one kRecurrent step over the whole sequence (ops/recurrent.cpp), its
// weights transposed and packed at load.
#include <cctype>
#include <memory>

#include "agent/engine/lowerer.h"

namespace edge::engine::lowering {
namespace {

using Activation = RecurrentSpec::Activation;

// The activation functions ONNX names for recurrent cells, as the standalone operators spell
// them (a model may write them in any case). Relu and Affine (alpha x + beta, defaults 1 and 0;
// no standalone operator) are the engine's own; the others are the element-wise operators'
// (FindUnaryOp), defaults included. Their alphas, then betas, are taken in order from
// activation_alpha and activation_beta by the activations that have them, as ONNX Runtime
// reads the lists. ScaledTanh has no engine function.
constexpr const char* kCellActivations[] = {"Relu",        "Tanh", "Sigmoid",         "Softsign", "Softplus",
                                            "LeakyRelu", "Elu",  "ThresholdedRelu", "HardSigmoid", "Affine"};

std::string Lowercase(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// The cell's activations for every direction: `per_direction` of them (f, g, h), ONNX's defaults
// when the model names none; a bidirectional cell given one direction's list uses it for both.
Result<std::vector<Activation>> ActivationsOf(const OnnxNode& n, size_t per_direction, int64_t directions) {
  std::vector<std::string> names = n.Strings("activations");
  if (names.empty()) {
    names = {"Sigmoid", "Tanh", "Tanh"};
    if (per_direction == 1) names = {"Tanh"};
    names.resize(per_direction);
  }
  const auto want = per_direction * static_cast<size_t>(directions);
  // one direction's list for a bidirectional cell: read once (its alphas and betas too), used twice
  const bool shared = names.size() == per_direction && directions == 2;
  if (names.size() != want && !shared) {
    return Fail(ErrorCode::kInvalidArgument, "attribute 'activations' names " + std::to_string(names.size()) +
                                                 " functions; " + n.op_type + " takes " + std::to_string(per_direction) +
                                                 " per direction (" + std::to_string(want) + " here)");
  }
  const std::vector<float> alphas = n.Floats("activation_alpha"), betas = n.Floats("activation_beta");
  size_t next_alpha = 0, next_beta = 0;
  std::vector<Activation> out;
  for (const std::string& name : names) {
    const char* canonical = nullptr;
    for (const char* c : kCellActivations) {
      if (Lowercase(name) == Lowercase(c)) canonical = c;
    }
    if (canonical == nullptr) {
      std::string taken;
      for (const char* c : kCellActivations) taken += std::string(taken.empty() ? "" : ", ") + c;
      return Fail(ErrorCode::kInvalidArgument, "activation '" + name + "' is not supported (the engine takes " + taken + ")");
    }
    UnaryOp op{canonical, UnaryKind::kRelu};
    if (std::string(canonical) == "Affine") {
      op = UnaryOp{canonical, UnaryKind::kAffine, "alpha", 1.0f, "beta", 0.0f};
    } else if (const UnaryOp* known = FindUnaryOp(canonical)) {
      op = *known;
    }
    Activation a{op.kind, op.alpha_default, op.beta_default};
    if (op.alpha != nullptr && next_alpha < alphas.size()) a.alpha = alphas[next_alpha++];
    if (op.beta != nullptr && next_beta < betas.size()) a.beta = betas[next_beta++];
    out.push_back(a);
  }
  if (next_alpha < alphas.size() || next_beta < betas.size()) {
    return Fail(ErrorCode::kInvalidArgument, "attributes 'activation_alpha' / 'activation_beta' give more values than "
                                             "the activations take");
  }
  if (shared) {
    const std::vector<Activation> one = out;
    out.insert(out.end(), one.begin(), one.end());
  }
  return out;
}

}  // namespace

Status Lowerer::LowerRecurrent(const OnnxNode& n) {
  using Cell = RecurrentSpec::Cell;
  auto spec = std::make_shared<RecurrentSpec>();
  RecurrentSpec& s = *spec;
  s.cell = n.op_type == "RNN" ? Cell::kRnn : n.op_type == "GRU" ? Cell::kGru : Cell::kLstm;
  if (s.cell == Cell::kRnn) {
    EDGE_TRY(CheckAttrs(n, {"activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout"}));
  } else if (s.cell == Cell::kGru) {
    EDGE_TRY(CheckAttrs(n, {"activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout",
                            "linear_before_reset"}));
  } else {
    EDGE_TRY(CheckAttrs(n, {"activation_alpha", "activation_beta", "activations", "clip", "direction", "hidden_size", "layout",
                            "input_forget"}));
  }
  const size_t max_inputs = s.cell == Cell::kLstm ? 8 : 6, max_outputs = s.cell == Cell::kLstm ? 3 : 2;
  if (n.inputs.size() > max_inputs) return Fail(ErrorCode::kInvalidArgument, "takes at most " + std::to_string(max_inputs) + " inputs");
  if (n.outputs.size() > max_outputs) {
    return Fail(ErrorCode::kInvalidArgument, "has at most " + std::to_string(max_outputs) + " outputs");
  }
  auto given = [&](size_t k) { return n.inputs.size() > k && !n.inputs[k].empty(); };
  if (!given(0) || !given(1) || !given(2)) return Fail(ErrorCode::kInvalidArgument, "needs X, W and R");

  const int64_t layout = n.Int("layout", 0);
  if (layout != 0 && layout != 1) return Fail(ErrorCode::kInvalidArgument, "attribute 'layout' must be 0 or 1");
  s.batch_major = layout == 1;
  const std::string direction = n.Str("direction", "forward");
  if (direction != "forward" && direction != "reverse" && direction != "bidirectional") {
    return Fail(ErrorCode::kInvalidArgument, "attribute 'direction' must be forward, reverse or bidirectional, not '" + direction + "'");
  }
  s.directions = direction == "bidirectional" ? 2 : 1;
  s.reverse = direction == "reverse";
  for (const char* flag : {"linear_before_reset", "input_forget"}) {
    const int64_t v = n.Int(flag, 0);
    if (v != 0 && v != 1) return Fail(ErrorCode::kInvalidArgument, std::string("attribute '") + flag + "' must be 0 or 1");
  }
  s.linear_before_reset = n.Int("linear_before_reset", 0) != 0;
  s.input_forget = n.Int("input_forget", 0) != 0;
  if (n.Find("clip") != nullptr) {
    s.clip = n.Float("clip", 0.0f);
    if (!(s.clip > 0.0f)) return Fail(ErrorCode::kInvalidArgument, "attribute 'clip' must be above 0");
  }

  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  const std::vector<int64_t> x_shape = ShapeOf(x);
  if (x_shape.size() != 3) return Fail(ErrorCode::kInvalidArgument, "X must have rank 3");
  s.seq = x_shape[s.batch_major ? 1 : 0];
  s.batch = x_shape[s.batch_major ? 0 : 1];
  s.input = x_shape[2];
  const int64_t gates = s.Gates(), dirs = s.directions;

  auto weights = [&](size_t k, const char* role) -> Result<ConstTensor> {
    std::optional<ConstTensor> t = FloatConst(n.inputs[k]);
    if (!t) return Fail(ErrorCode::kInvalidArgument, std::string(role) + " must be a constant (the engine packs it at load)");
    // ONNX types the weights float: integer codes need their DequantizeLinear (FloatConst
    // would read them as values)
    if (IsConst(n.inputs[k]) && !consts_.at(n.inputs[k]).is_float()) {
      return Fail(ErrorCode::kInvalidArgument, std::string(role) + " is " + DTypeName(consts_.at(n.inputs[k]).dtype) +
                                                   "; ONNX defines it as float (integer weights need a DequantizeLinear)");
    }
    return std::move(*t);
  };
  EDGE_ASSIGN_OR_RETURN(ConstTensor w, weights(1, "W"));
  EDGE_ASSIGN_OR_RETURN(ConstTensor r, weights(2, "R"));
  if (r.shape.size() != 3) return Fail(ErrorCode::kInvalidArgument, "R must have rank 3");
  s.hidden = r.shape[2];
  if (n.Find("hidden_size") != nullptr && n.Int("hidden_size", 0) != s.hidden) {
    return Fail(ErrorCode::kInvalidArgument, "attribute 'hidden_size' is " + std::to_string(n.Int("hidden_size", 0)) +
                                                 " but R is " + ShapeText(r.shape));
  }
  const int64_t h = s.hidden, gh = gates * h;
  if (h < 1) return Fail(ErrorCode::kInvalidArgument, "hidden size must be at least 1");
  auto check = [&](const ConstTensor& t, const char* role, std::vector<int64_t> want) -> Status {
    if (t.shape == want) return Ok();
    return Fail(ErrorCode::kInvalidArgument, std::string(role) + " is " + ShapeText(t.shape) + ", expected " + ShapeText(want) +
                                                 " (" + direction + ", " + std::to_string(gates) + " gate(s) of hidden size " +
                                                 std::to_string(h) + ", input size " + std::to_string(s.input) + ")");
  };
  EDGE_TRY(check(w, "W", {dirs, gh, s.input}));
  EDGE_TRY(check(r, "R", {dirs, gh, h}));
  ConstTensor b = MakeFloatTensor({dirs, 2 * gh}, std::vector<float>(static_cast<size_t>(dirs * 2 * gh), 0.0f));
  if (given(3)) {
    EDGE_ASSIGN_OR_RETURN(b, weights(3, "B"));
    EDGE_TRY(check(b, "B", {dirs, 2 * gh}));
  }

  // W^T and R^T per direction: row k holds every gate's weight for input (or state) element k,
  // so a step adds x[k] times one contiguous row
  auto transpose = [&](const ConstTensor& t, int64_t cols) {
    std::vector<float> out(static_cast<size_t>(dirs * cols * gh));
    for (int64_t d = 0; d < dirs; ++d) {
      for (int64_t j = 0; j < gh; ++j) {
        for (int64_t k = 0; k < cols; ++k) out[static_cast<size_t>((d * cols + k) * gh + j)] = t.f[static_cast<size_t>((d * gh + j) * cols + k)];
      }
    }
    return MakeFloatTensor({dirs, cols, gh}, std::move(out));
  };
  auto bias_half = [&](int64_t half) {
    std::vector<float> out(static_cast<size_t>(dirs * gh));
    for (int64_t d = 0; d < dirs; ++d) {
      for (int64_t j = 0; j < gh; ++j) out[static_cast<size_t>(d * gh + j)] = b.f[static_cast<size_t>(d * 2 * gh + half * gh + j)];
    }
    return MakeFloatTensor({dirs, gh}, std::move(out));
  };
  std::vector<int> in = {x,
                         ConstFloatValue(FreshName(n.name + "#W^T"), transpose(w, s.input)),
                         ConstFloatValue(FreshName(n.name + "#R^T"), transpose(r, h)),
                         ConstFloatValue(FreshName(n.name + "#Wb"), bias_half(0)),
                         ConstFloatValue(FreshName(n.name + "#Rb"), bias_half(1))};

  const std::vector<int64_t> state_shape = s.batch_major ? std::vector<int64_t>{s.batch, dirs, h}
                                                         : std::vector<int64_t>{dirs, s.batch, h};
  auto optional_input = [&](size_t k, const char* role, std::vector<int64_t> want, int& position) -> Status {
    if (!given(k)) return Ok();
    EDGE_ASSIGN_OR_RETURN(int v, AsFloat(n.inputs[k]));
    if (ShapeOf(v) != want) {
      return Fail(ErrorCode::kInvalidArgument, std::string(role) + " is " + ShapeText(ShapeOf(v)) + ", expected " + ShapeText(want));
    }
    position = static_cast<int>(in.size());
    in.push_back(v);
    return Ok();
  };
  if (given(4)) {
    EDGE_ASSIGN_OR_RETURN(auto lens_shape, ShapeOfName(n.inputs[4]));
    if (lens_shape != std::vector<int64_t>{s.batch}) {
      return Fail(ErrorCode::kInvalidArgument, "sequence_lens is " + ShapeText(lens_shape) + ", expected [" + std::to_string(s.batch) + "]");
    }
    if (IsConst(n.inputs[4])) {
      const ConstTensor& lens = consts_.at(n.inputs[4]);
      for (int64_t k = 0; k < lens.elements(); ++k) {
        if (lens.At(k) < 0 || lens.At(k) > static_cast<double>(s.seq)) {
          return Fail(ErrorCode::kInvalidArgument, "sequence_lens[" + std::to_string(k) + "] is " + std::to_string(static_cast<long long>(lens.At(k))) +
                                                       ", outside [0, " + std::to_string(s.seq) + "]");
        }
      }
    }
    EDGE_ASSIGN_OR_RETURN(int lens, AsInteger(n.inputs[4], DType::kI32));
    s.lengths = static_cast<int>(in.size());
    in.push_back(lens);
  }
  EDGE_TRY(optional_input(5, "initial_h", state_shape, s.initial_h));
  if (s.cell == Cell::kLstm) {
    EDGE_TRY(optional_input(6, "initial_c", state_shape, s.initial_c));
    if (given(7)) {
      EDGE_ASSIGN_OR_RETURN(ConstTensor p, weights(7, "P"));
      EDGE_TRY(check(p, "P", {dirs, 3 * h}));
      s.peepholes = static_cast<int>(in.size());
      in.push_back(ConstFloatValue(FreshName(n.name + "#P"), std::move(p)));
    }
  }
  EDGE_ASSIGN_OR_RETURN(s.activations, ActivationsOf(n, s.cell == Cell::kRnn ? 1 : s.cell == Cell::kGru ? 2 : 3, dirs));

  Node node = MakeNode(OpKind::kRecurrent, n);
  node.in = std::move(in);
  const std::vector<int64_t> y_shape = s.batch_major ? std::vector<int64_t>{s.batch, s.seq, dirs, h}
                                                     : std::vector<int64_t>{s.seq, dirs, s.batch, h};
  std::vector<std::string> names;
  for (size_t k = 0; k < max_outputs; ++k) {
    const bool named = n.outputs.size() > k && !n.outputs[k].empty();
    names.push_back(named ? n.outputs[k] : FreshName(n.name + "#unread"));
    EDGE_ASSIGN_OR_RETURN(int v, NewValue(names.back(), DType::kF32, k == 0 ? y_shape : state_shape));
    node.out.push_back(v);
  }
  node.recurrent = std::move(spec);
  const std::vector<int> outs = node.out;
  AddNode(std::move(node));
  for (size_t k = 0; k < outs.size(); ++k) SetFloat(names[k], outs[k]);
  return Ok();
}

}  // namespace edge::engine::lowering
