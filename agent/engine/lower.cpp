#include "agent/engine/lower.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <unordered_map>

#include "agent/engine/shape_rules.h"

namespace edge::engine {
namespace {

// What an ONNX tensor name stands for during lowering.
struct Sym {
  enum class Kind { kFloat, kQuant, kInt8Raw, kConst, kQConst } kind = Kind::kFloat;
  int value = -1;        // kFloat, kQuant (float meaning of an int8 value), kInt8Raw
  bool u8_domain = false;  // kInt8Raw produced by a uint8 QuantizeLinear
};

// DequantizeLinear of a constant: integers (uint8 already shifted to int8) and their scales.
struct QConst {
  ConstTensor q;
  std::vector<float> scales;
  std::vector<int32_t> zps;
  int64_t axis = -1;  // -1: per tensor
  bool is_int32 = false;
};

// The QuantizeLinear (and optional Relu/Clip before it) that closes a fusable int8 op.
struct QuantTail {
  std::vector<size_t> consumed;
  std::string out_name;
  QParams q;
  bool u8 = false;
  int32_t qmin = -128, qmax = 127;
};


class Lowerer {
 public:
  Lowerer(const OnnxGraph& onnx, const LowerOptions& options) : onnx_(onnx), options_(options) {}

  Result<Graph> Run() {
    // Every op reads its first input (Constant excepted) and writes its first output, here and
    // where fusions look ahead at consumers: refuse a node without them before any is read.
    for (const auto& n : onnx_.nodes) {
      if (n.outputs.empty()) return Fail(ErrorCode::kInvalidArgument, n.Label() + ": no outputs");
      if (n.inputs.empty() && n.op_type != "Constant") return Fail(ErrorCode::kInvalidArgument, n.Label() + ": no inputs");
    }
    for (const auto& [name, t] : onnx_.initializers) consts_[name] = t;
    for (const auto& io : onnx_.inputs) {
      if (io.dtype != DType::kF32) {
        return Fail(ErrorCode::kInvalidArgument,
                    "input '" + io.name + "' is " + DTypeName(io.dtype) + "; only float32 inputs are supported");
      }
      Value v;
      v.name = io.name;
      v.dtype = DType::kF32;
      v.shape = io.shape;
      const int id = AddActivation(std::move(v));
      g_.inputs.push_back(id);
      syms_[io.name] = Sym{Sym::Kind::kFloat, id, false};
    }
    EDGE_ASSIGN_OR_RETURN(order_, TopologicalOrder());
    for (const auto& n : onnx_.nodes) {
      for (const auto& in : n.inputs) {
        if (!in.empty()) consumers_[in].push_back(&n - onnx_.nodes.data());
      }
    }
    for (const auto& out : onnx_.outputs) graph_outputs_.insert(out.name);
    for (size_t idx : order_) {
      if (consumed_.count(idx) != 0) continue;
      const OnnxNode& n = onnx_.nodes[idx];
      auto st = LowerNode(idx, n);
      if (!st) return Fail(st.error().Wrap(n.Label()));
    }
    for (const auto& out : onnx_.outputs) {
      auto it = syms_.find(out.name);
      if (it == syms_.end()) {
        return Fail(ErrorCode::kInvalidArgument, "graph output '" + out.name + "' is never produced");
      }
      if (it->second.kind == Sym::Kind::kConst || it->second.kind == Sym::Kind::kQConst ||
          it->second.kind == Sym::Kind::kInt8Raw) {
        return Fail(ErrorCode::kInvalidArgument,
                    "graph output '" + out.name + "' is a constant or an int8 tensor; only float32 outputs are supported");
      }
      EDGE_ASSIGN_OR_RETURN(int v, AsFloat(out.name));
      // A graph output must own its storage name; an alias of an input is fine since outputs are copied.
      g_.values[v].name = out.name;
      g_.outputs.push_back(v);
    }
    if (options_.keep_all_tensors) {
      for (const auto& [name, s] : syms_) {
        if (s.kind == Sym::Kind::kFloat && !g_.values[s.value].is_const) g_.float_tensors[name] = s.value;
      }
    }
    return std::move(g_);
  }

 private:
  // ---------------------------------------------------------------- graph structure
  Result<std::vector<size_t>> TopologicalOrder() {
    std::unordered_map<std::string, size_t> producer;
    for (size_t i = 0; i < onnx_.nodes.size(); ++i) {
      for (const auto& out : onnx_.nodes[i].outputs) {
        if (out.empty()) continue;
        if (producer.count(out) != 0 || onnx_.initializers.count(out) != 0 ||
            std::any_of(onnx_.inputs.begin(), onnx_.inputs.end(),
                        [&](const OnnxIo& io) { return io.name == out; })) {
          return Fail(ErrorCode::kInvalidArgument,
                      onnx_.nodes[i].Label() + ": tensor '" + out + "' is defined twice");
        }
        producer[out] = i;
      }
    }
    std::vector<int> pending(onnx_.nodes.size(), 0);
    std::vector<std::vector<size_t>> users(onnx_.nodes.size());
    for (size_t i = 0; i < onnx_.nodes.size(); ++i) {
      for (const auto& in : onnx_.nodes[i].inputs) {
        if (in.empty()) continue;
        auto it = producer.find(in);
        if (it != producer.end()) {
          ++pending[i];
          users[it->second].push_back(i);
          continue;
        }
        if (onnx_.initializers.count(in) != 0) continue;
        if (std::any_of(onnx_.inputs.begin(), onnx_.inputs.end(),
                        [&](const OnnxIo& io) { return io.name == in; })) {
          continue;
        }
        return Fail(ErrorCode::kInvalidArgument,
                    onnx_.nodes[i].Label() + ": input '" + in +
                        "' is not produced by any node, initializer or graph input");
      }
    }
    std::vector<size_t> order;
    std::vector<size_t> ready;
    for (size_t i = onnx_.nodes.size(); i-- > 0;) {
      if (pending[i] == 0) ready.push_back(i);
    }
    while (!ready.empty()) {
      const size_t i = ready.back();
      ready.pop_back();
      order.push_back(i);
      for (size_t u : users[i]) {
        if (--pending[u] == 0) ready.push_back(u);
      }
    }
    if (order.size() != onnx_.nodes.size()) {
      for (size_t i = 0; i < onnx_.nodes.size(); ++i) {
        if (pending[i] != 0) {
          return Fail(ErrorCode::kInvalidArgument, "graph has a cycle through " + onnx_.nodes[i].Label());
        }
      }
    }
    return order;
  }

  int AddActivation(Value v) {
    auto count = CheckedElementCount(v.shape);
    v.elements = count ? *count : 0;
    return g_.AddValue(std::move(v));
  }

  Result<int> NewValue(const std::string& name, DType dtype, std::vector<int64_t> shape,
                       QParams q = {}) {
    auto count = CheckedElementCount(shape);
    if (!count) return Fail(count.error().Wrap("output '" + name + "'"));
    Value v;
    v.name = name;
    v.dtype = dtype;
    v.shape = std::move(shape);
    v.elements = *count;
    v.q = q;
    return g_.AddValue(std::move(v));
  }

  int AddNode(Node n) {
    const int idx = static_cast<int>(g_.nodes.size());
    for (int o : n.out) g_.values[o].producer = idx;
    g_.nodes.push_back(std::move(n));
    return idx;
  }

  Node MakeNode(OpKind kind, const OnnxNode& src) {
    Node n;
    n.kind = kind;
    n.name = src.name;
    n.onnx_op = src.op_type;
    return n;
  }

  // ---------------------------------------------------------------- symbol access
  Result<Sym> Get(const std::string& name) {
    if (auto it = syms_.find(name); it != syms_.end()) return it->second;
    if (consts_.count(name) != 0) return Sym{Sym::Kind::kConst, -1, false};
    if (qconsts_.count(name) != 0) return Sym{Sym::Kind::kQConst, -1, false};
    return Fail(ErrorCode::kInvalidArgument, "tensor '" + name + "' is not available");
  }

  bool IsConst(const std::string& name) const {
    return syms_.count(name) == 0 && consts_.count(name) != 0;
  }
  bool IsQConst(const std::string& name) const {
    return syms_.count(name) == 0 && qconsts_.count(name) != 0;
  }

  Result<const ConstTensor*> Const(const std::string& name, const std::string& role) {
    if (!IsConst(name)) {
      return Fail(ErrorCode::kInvalidArgument, role + " '" + name + "' must be a constant");
    }
    return &consts_.at(name);
  }

  static ConstTensor Dequantize(const QConst& qc) {
    ConstTensor t;
    t.dtype = DType::kF32;
    t.shape = qc.q.shape;
    t.f.resize(static_cast<size_t>(qc.q.elements()));
    int64_t inner = 1;
    if (qc.axis >= 0) {
      for (size_t k = static_cast<size_t>(qc.axis) + 1; k < qc.q.shape.size(); ++k) inner *= qc.q.shape[k];
    }
    const int64_t channels = static_cast<int64_t>(qc.scales.size());
    for (int64_t k = 0; k < qc.q.elements(); ++k) {
      const int64_t c = qc.axis >= 0 ? (k / inner) % channels : 0;
      t.f[k] = qc.scales[c] * static_cast<float>(qc.q.i[k] - qc.zps[c]);
    }
    return t;
  }

  // The float constant behind a name (a plain constant or a dequantized one).
  std::optional<ConstTensor> FloatConst(const std::string& name) {
    if (IsConst(name)) {
      ConstTensor t = consts_.at(name);
      if (!t.is_float()) {
        t.f.assign(t.i.begin(), t.i.end());
        t.i.clear();
        t.dtype = DType::kF32;
      }
      return t;
    }
    if (IsQConst(name)) return Dequantize(qconsts_.at(name));
    return std::nullopt;
  }

  int ConstFloatValue(const std::string& name, ConstTensor t) {
    Value v;
    v.name = name;
    v.dtype = DType::kF32;
    v.shape = t.shape;
    v.elements = t.elements();
    v.is_const = true;
    v.cf = std::move(t.f);
    return g_.AddValue(std::move(v));
  }

  // The float value for a tensor, inserting a DequantizeLinear step for int8 activations.
  Result<int> AsFloat(const std::string& name) {
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(name));
    switch (s.kind) {
      case Sym::Kind::kFloat: return s.value;
      case Sym::Kind::kQuant: {
        if (auto it = dequantized_.find(s.value); it != dequantized_.end()) return it->second;
        // Copies, not references: NewValue may reallocate the value table.
        const QParams q = g_.values[s.value].q;
        EDGE_ASSIGN_OR_RETURN(int out, NewValue(name, DType::kF32, g_.values[s.value].shape));
        Node n;
        n.kind = OpKind::kDequantize;
        n.name = name;
        n.onnx_op = "DequantizeLinear";
        n.in = {s.value};
        n.out = {out};
        n.quant = q;
        AddNode(std::move(n));
        dequantized_[s.value] = out;
        syms_[name] = Sym{Sym::Kind::kFloat, out, false};
        return out;
      }
      case Sym::Kind::kConst:
      case Sym::Kind::kQConst: {
        if (auto it = const_values_.find(name); it != const_values_.end()) return it->second;
        const int v = ConstFloatValue(name, *FloatConst(name));
        const_values_[name] = v;
        return v;
      }
      case Sym::Kind::kInt8Raw:
        return Fail(ErrorCode::kInvalidArgument,
                    "int8 tensor '" + name + "' is used without a DequantizeLinear");
    }
    return Fail(ErrorCode::kInternal, "unreachable");
  }

  bool IsQuant(const std::string& name) {
    auto s = Get(name);
    return s && s->kind == Sym::Kind::kQuant;
  }

  void SetFloat(const std::string& name, int v) { syms_[name] = Sym{Sym::Kind::kFloat, v, false}; }
  void SetQuant(const std::string& name, int v) { syms_[name] = Sym{Sym::Kind::kQuant, v, false}; }

  // ---------------------------------------------------------------- QDQ fusion
  Result<std::optional<std::pair<QParams, bool>>> QuantizeParams(const OnnxNode& q) {
    if (q.inputs.size() < 2 || !IsConst(q.inputs[1])) return std::optional<std::pair<QParams, bool>>{};
    const ConstTensor& scale = consts_.at(q.inputs[1]);
    if (scale.elements() != 1 || !scale.is_float()) return std::optional<std::pair<QParams, bool>>{};
    QParams p;
    p.scale = scale.f[0];
    bool u8 = true;  // ONNX: no zero point means uint8
    if (q.inputs.size() > 2 && !q.inputs[2].empty()) {
      if (!IsConst(q.inputs[2])) return std::optional<std::pair<QParams, bool>>{};
      const ConstTensor& zp = consts_.at(q.inputs[2]);
      if (zp.elements() != 1 || (zp.dtype != DType::kI8 && zp.dtype != DType::kU8)) {
        return Fail(ErrorCode::kInvalidArgument,
                    q.Label() + ": zero point must be a scalar int8 or uint8");
      }
      u8 = zp.dtype == DType::kU8;
      p.zero_point = static_cast<int32_t>(zp.i[0]) - (u8 ? 128 : 0);
    } else {
      p.zero_point = -128;
    }
    if (!(p.scale > 0.0f) || !std::isfinite(p.scale)) {
      return Fail(ErrorCode::kInvalidArgument, q.Label() + ": scale must be positive and finite");
    }
    return std::optional<std::pair<QParams, bool>>{std::make_pair(p, u8)};
  }

  bool SingleConsumer(const std::string& name, size_t& consumer) const {
    if (graph_outputs_.count(name) != 0) return false;
    auto it = consumers_.find(name);
    if (it == consumers_.end() || it->second.size() != 1) return false;
    consumer = it->second[0];
    return true;
  }

  // Finds DequantizeLinear-fed op output -> [Relu | Clip] -> QuantizeLinear.
  Result<std::optional<QuantTail>> MatchQuantTail(const std::string& out) {
    QuantTail tail;
    size_t c = 0;
    if (!SingleConsumer(out, c)) return std::optional<QuantTail>{};
    float lo = -INFINITY, hi = INFINITY;
    const OnnxNode* node = &onnx_.nodes[c];
    if (node->op_type == "Relu" || node->op_type == "Clip") {
      if (node->op_type == "Relu") {
        lo = 0.0f;
      } else {
        auto bounds = ClipBounds(*node);
        if (!bounds) return std::optional<QuantTail>{};
        lo = bounds->first;
        hi = bounds->second;
      }
      tail.consumed.push_back(c);
      if (!SingleConsumer(node->outputs[0], c)) return std::optional<QuantTail>{};
      node = &onnx_.nodes[c];
    }
    if (node->op_type != "QuantizeLinear") return std::optional<QuantTail>{};
    EDGE_ASSIGN_OR_RETURN(auto params, QuantizeParams(*node));
    if (!params) return std::optional<QuantTail>{};
    tail.consumed.push_back(c);
    tail.out_name = node->outputs[0];
    tail.q = params->first;
    tail.u8 = params->second;
    const double zp = tail.q.zero_point;
    if (std::isfinite(lo)) {
      tail.qmin = static_cast<int32_t>(std::clamp(std::nearbyint(lo / tail.q.scale) + zp, -128.0, 127.0));
    }
    if (std::isfinite(hi)) {
      tail.qmax = static_cast<int32_t>(std::clamp(std::nearbyint(hi / tail.q.scale) + zp, -128.0, 127.0));
    }
    if (tail.qmin > tail.qmax) return std::optional<QuantTail>{};
    return std::optional<QuantTail>{tail};
  }

  std::optional<std::pair<float, float>> ClipBounds(const OnnxNode& n) {
    float lo = -INFINITY, hi = INFINITY;
    if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
      auto c = FloatConst(n.inputs[1]);
      if (!c || c->elements() != 1) return std::nullopt;
      lo = c->f[0];
    }
    if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
      auto c = FloatConst(n.inputs[2]);
      if (!c || c->elements() != 1) return std::nullopt;
      hi = c->f[0];
    }
    return std::make_pair(lo, hi);
  }

  Result<int> FinishQuant(const QuantTail& tail, const std::vector<int64_t>& shape, Node& node) {
    EDGE_ASSIGN_OR_RETURN(int out, NewValue(tail.out_name, DType::kI8, shape, tail.q));
    node.out = {out};
    node.qmin = tail.qmin;
    node.qmax = tail.qmax;
    for (size_t c : tail.consumed) consumed_.insert(c);
    syms_[tail.out_name] = Sym{Sym::Kind::kInt8Raw, out, tail.u8};
    AddNode(std::move(node));
    return out;
  }

  // ---------------------------------------------------------------- per-op lowering
  // Emits `node` on the float form of its first input; the output is float of `shape`.
  Status EmitFloat(const OnnxNode& n, Node node, const std::vector<int64_t>& shape) {
    EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
    node.in = {x};
    EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, shape));
    node.out = {out};
    AddNode(std::move(node));
    SetFloat(n.outputs[0], out);
    return Ok();
  }
  // Emits `node` on the int8 value `x`; the output keeps x's quantization (layout ops and max,
  // which commute with dequantization).
  Status EmitQuantSameParams(const OnnxNode& n, Node node, int x, const std::vector<int64_t>& shape) {
    node.in = {x};
    EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kI8, shape, g_.values[x].q));
    node.out = {out};
    AddNode(std::move(node));
    SetQuant(n.outputs[0], out);
    return Ok();
  }
  // Bias element `i` in the int32 accumulator scale `acc_scale` (input scale x weight scale):
  // an int32 QDQ bias already in that scale is taken as is, anything else is requantized from
  // the float bias with round-half-to-even and saturation.
  static int32_t AccumulatorBias(const ConstTensor& bias, const QConst* bq, int64_t i, float acc_scale) {
    if (bq != nullptr && bq->is_int32 && bq->zps[bq->axis >= 0 ? i : 0] == 0 &&
        bq->scales[bq->axis >= 0 ? i : 0] == acc_scale) {
      return static_cast<int32_t>(bq->q.i[i]);
    }
    return static_cast<int32_t>(
        std::clamp(std::nearbyint(double(bias.f[i]) / acc_scale), double(INT32_MIN), double(INT32_MAX)));
  }
  // When the single input is int8 and a QuantizeLinear follows, emits `node` as the int8 op
  // `qkind` ending in that quantization and returns true; otherwise leaves `node` unchanged.
  Result<bool> TryQuantUnary(const OnnxNode& n, Node& node, OpKind qkind, const std::vector<int64_t>& shape) {
    if (!IsQuant(n.inputs[0])) return false;
    EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
    if (!tail) return false;
    node.kind = qkind;
    node.in = {syms_.at(n.inputs[0]).value};
    EDGE_TRY(FinishQuant(*tail, shape, node));
    return true;
  }
  Status LowerNode(size_t idx, const OnnxNode& n);
  Status LowerConstantLike(const OnnxNode& n);
  Status LowerQuantize(const OnnxNode& n);
  Status LowerDequantize(const OnnxNode& n);
  Status LowerConv(const OnnxNode& n);
  Status LowerGemmLike(const OnnxNode& n);
  Status LowerBinary(const OnnxNode& n);
  Status LowerUnary(const OnnxNode& n);
  Status LowerPool(const OnnxNode& n);
  Status LowerReshapeLike(const OnnxNode& n);
  Status LowerTranspose(const OnnxNode& n);
  Status LowerConcat(const OnnxNode& n);
  Status LowerPad(const OnnxNode& n);
  Status LowerSoftmax(const OnnxNode& n);
  Status LowerReduceMean(const OnnxNode& n);
  Status LowerBatchNorm(const OnnxNode& n);

  Status CheckAttrs(const OnnxNode& n, std::initializer_list<const char*> known) {
    for (const auto& a : n.attrs) {
      if (std::none_of(known.begin(), known.end(), [&](const char* k) { return a.name == k; })) {
        return Fail(ErrorCode::kInvalidArgument, "unsupported attribute '" + a.name + "'");
      }
    }
    return Ok();
  }

  const std::vector<int64_t>& ShapeOf(int v) const { return g_.values[v].shape; }
  Result<std::vector<int64_t>> ShapeOfName(const std::string& name) {
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(name));
    if (s.kind == Sym::Kind::kConst) return consts_.at(name).shape;
    if (s.kind == Sym::Kind::kQConst) return qconsts_.at(name).q.shape;
    return g_.values[s.value].shape;
  }

  Status ParseWindow(const OnnxNode& n, size_t spatial, const std::vector<int64_t>& in_shape,
                     const std::vector<int64_t>& kernel, Node& node, std::vector<int64_t>& out_shape,
                     bool allow_ceil);

  const OnnxGraph& onnx_;
  LowerOptions options_;
  Graph g_;
  std::vector<size_t> order_;
  std::unordered_map<std::string, Sym> syms_;
  std::unordered_map<std::string, ConstTensor> consts_;
  std::unordered_map<std::string, QConst> qconsts_;
  std::unordered_map<std::string, int> const_values_;
  std::unordered_map<int, int> dequantized_;
  std::unordered_map<std::string, std::vector<size_t>> consumers_;
  std::set<std::string> graph_outputs_;
  std::set<size_t> consumed_;
};

Status Lowerer::LowerNode(size_t, const OnnxNode& n) {
  const std::string& op = n.op_type;
  for (const auto& out : n.outputs) {
    if (out.empty()) return Fail(ErrorCode::kInvalidArgument, "empty output name");
  }
  if (op == "Constant" || op == "Identity" || op == "Cast" || op == "Dropout") return LowerConstantLike(n);
  if (op == "QuantizeLinear") return LowerQuantize(n);
  if (op == "DequantizeLinear") return LowerDequantize(n);
  if (op == "Conv") return LowerConv(n);
  if (op == "Gemm" || op == "MatMul") return LowerGemmLike(n);
  if (op == "Add" || op == "Mul" || op == "Sub" || op == "Div") return LowerBinary(n);
  if (op == "Relu" || op == "Clip" || op == "Sigmoid" || op == "Tanh" || op == "LeakyRelu" ||
      op == "HardSigmoid" || op == "HardSwish") {
    return LowerUnary(n);
  }
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool") return LowerPool(n);
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze") return LowerReshapeLike(n);
  if (op == "Transpose") return LowerTranspose(n);
  if (op == "Concat") return LowerConcat(n);
  if (op == "Pad") return LowerPad(n);
  if (op == "Softmax") return LowerSoftmax(n);
  if (op == "ReduceMean") return LowerReduceMean(n);
  if (op == "BatchNormalization") return LowerBatchNorm(n);
  return Fail(ErrorCode::kInvalidArgument, "unsupported operator " + op);
}

Status Lowerer::LowerConstantLike(const OnnxNode& n) {
  if (n.op_type == "Constant") {
    const OnnxAttr* a = n.Find("value");
    if (a == nullptr || a->kind != OnnxAttr::Kind::kTensor || n.attrs.size() != 1) {
      return Fail(ErrorCode::kInvalidArgument, "only the 'value' tensor form of Constant is supported");
    }
    consts_[n.outputs[0]] = a->t;
    return Ok();
  }
  if (n.inputs.empty()) return Fail(ErrorCode::kInvalidArgument, "missing input");
  if (n.op_type == "Dropout" && n.outputs.size() > 1) {
    return Fail(ErrorCode::kInvalidArgument, "Dropout mask output is not supported");
  }
  const std::string& in = n.inputs[0];
  if (n.op_type == "Cast") {
    const int64_t to = n.Int("to", -1);
    if (IsConst(in)) {
      ConstTensor t = consts_.at(in);
      if (to == 1) {  // FLOAT
        if (!t.is_float()) {
          t.f.assign(t.i.begin(), t.i.end());
          t.i.clear();
        }
        t.dtype = DType::kF32;
      } else if (to == 7 || to == 6) {  // INT64, INT32
        if (t.is_float()) {
          for (float v : t.f) t.i.push_back(static_cast<int64_t>(v));
          t.f.clear();
        }
        t.dtype = to == 7 ? DType::kI64 : DType::kI32;
      } else {
        return Fail(ErrorCode::kInvalidArgument, "Cast of a constant to type " + std::to_string(to) + " is not supported");
      }
      consts_[n.outputs[0]] = std::move(t);
      return Ok();
    }
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
    if (to == 1 && s.kind == Sym::Kind::kFloat) {
      syms_[n.outputs[0]] = s;
      return Ok();
    }
    return Fail(ErrorCode::kInvalidArgument, "Cast of a non-constant tensor is not supported");
  }
  // Identity / Dropout (inference): a new name for the same thing.
  if (IsConst(in)) {
    consts_[n.outputs[0]] = consts_.at(in);
  } else if (IsQConst(in)) {
    qconsts_[n.outputs[0]] = qconsts_.at(in);
  } else {
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
    syms_[n.outputs[0]] = s;
  }
  return Ok();
}

Status Lowerer::LowerQuantize(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axis", "saturate"}));
  EDGE_ASSIGN_OR_RETURN(auto params, QuantizeParams(n));
  if (!params) {
    return Fail(ErrorCode::kInvalidArgument,
                "scale and zero point must be constant scalars (per-tensor activation quantization)");
  }
  const auto [q, u8] = *params;
  const std::string& in = n.inputs[0];
  if (IsConst(in) || IsQConst(in)) {
    ConstTensor t = *FloatConst(in);
    ConstTensor r;
    r.dtype = u8 ? DType::kU8 : DType::kI8;
    r.shape = t.shape;
    for (float v : t.f) {
      const double qv = std::clamp(std::nearbyint(double(v) / q.scale) + q.zero_point, -128.0, 127.0);
      r.i.push_back(static_cast<int64_t>(qv) + (u8 ? 128 : 0));
    }
    consts_[n.outputs[0]] = std::move(r);
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
  if (s.kind == Sym::Kind::kQuant) {
    const Value& src = g_.values[s.value];
    if (src.q == q) {
      syms_[n.outputs[0]] = Sym{Sym::Kind::kInt8Raw, s.value, u8};
      return Ok();
    }
    EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kI8, src.shape, q));
    Node node = MakeNode(OpKind::kRequant, n);
    node.in = {s.value};
    node.out = {out};
    AddNode(std::move(node));
    syms_[n.outputs[0]] = Sym{Sym::Kind::kInt8Raw, out, u8};
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(in));
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kI8, ShapeOf(x), q));
  Node node = MakeNode(OpKind::kQuantize, n);
  node.in = {x};
  node.out = {out};
  node.quant = q;
  AddNode(std::move(node));
  syms_[n.outputs[0]] = Sym{Sym::Kind::kInt8Raw, out, u8};
  return Ok();
}

Status Lowerer::LowerDequantize(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axis"}));
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing scale");
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* scale, Const(n.inputs[1], "scale"));
  if (!scale->is_float() || scale->elements() < 1) {
    return Fail(ErrorCode::kInvalidArgument, "scale must be float32");
  }
  const ConstTensor* zp = nullptr;
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    EDGE_ASSIGN_OR_RETURN(zp, Const(n.inputs[2], "zero point"));
    if (zp->elements() != scale->elements()) {
      return Fail(ErrorCode::kInvalidArgument, "scale and zero point sizes differ");
    }
  }
  for (float s : scale->f) {
    if (!(s > 0.0f) || !std::isfinite(s)) {
      return Fail(ErrorCode::kInvalidArgument, "scale must be positive and finite");
    }
  }
  const std::string& in = n.inputs[0];
  if (IsConst(in)) {
    const ConstTensor& t = consts_.at(in);
    if (t.is_float() || t.dtype == DType::kI64) {
      return Fail(ErrorCode::kInvalidArgument, "input must be int8, uint8 or int32");
    }
    QConst qc;
    qc.q = t;
    qc.is_int32 = t.dtype == DType::kI32;
    const bool u8 = t.dtype == DType::kU8;
    if (u8) {
      for (auto& v : qc.q.i) v -= 128;
      qc.q.dtype = DType::kI8;
    }
    qc.scales = scale->f;
    for (int64_t k = 0; k < scale->elements(); ++k) {
      qc.zps.push_back(zp ? static_cast<int32_t>(zp->i[k]) - (u8 ? 128 : 0) : 0);
    }
    if (scale->elements() > 1) {
      EDGE_ASSIGN_OR_RETURN(qc.axis, NormalizeAxis(n.Int("axis", 1), static_cast<int64_t>(t.shape.size())));
      if (t.shape[qc.axis] != scale->elements()) {
        return Fail(ErrorCode::kInvalidArgument, "per-axis scale count does not match the axis");
      }
    }
    qconsts_[n.outputs[0]] = std::move(qc);
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
  if (s.kind != Sym::Kind::kInt8Raw) {
    return Fail(ErrorCode::kInvalidArgument, "input must be the int8/uint8 output of a QuantizeLinear");
  }
  if (scale->elements() != 1) {
    return Fail(ErrorCode::kInvalidArgument, "per-axis dequantization of an activation is not supported");
  }
  QParams q;
  q.scale = scale->f[0];
  if (zp != nullptr) {
    if ((zp->dtype == DType::kU8) != s.u8_domain) {
      return Fail(ErrorCode::kInvalidArgument, "zero point type differs from the input type");
    }
    q.zero_point = static_cast<int32_t>(zp->i[0]) - (s.u8_domain ? 128 : 0);
  } else {
    q.zero_point = s.u8_domain ? -128 : 0;
  }
  int v = s.value;
  if (!(g_.values[v].q == q)) {
    // Same integers read with other parameters: an alias with its own meaning.
    Value alias = g_.values[v];
    alias.name = n.outputs[0];
    alias.q = q;
    alias.alias_of = v;
    alias.producer = -1;
    v = g_.AddValue(std::move(alias));
  }
  SetQuant(n.outputs[0], v);
  return Ok();
}

Status Lowerer::ParseWindow(const OnnxNode& n, size_t spatial, const std::vector<int64_t>& in_shape,
                            const std::vector<int64_t>& kernel, Node& node,
                            std::vector<int64_t>& out_shape, bool allow_ceil) {
  if (spatial != 1 && spatial != 2) {
    return Fail(ErrorCode::kInvalidArgument, "only 1-D and 2-D windows are supported");
  }
  if (in_shape.size() != spatial + 2 || kernel.size() != spatial) {
    return Fail(ErrorCode::kInvalidArgument, "input rank does not match the kernel");
  }
  auto attr_or = [&](const char* name, int64_t fill, size_t count) -> Result<std::vector<int64_t>> {
    std::vector<int64_t> v = n.Ints(name);
    if (v.empty()) v.assign(count, fill);
    if (v.size() != count) {
      return Fail(ErrorCode::kInvalidArgument, std::string("attribute '") + name + "' has the wrong length");
    }
    return v;
  };
  EDGE_ASSIGN_OR_RETURN(auto strides, attr_or("strides", 1, spatial));
  EDGE_ASSIGN_OR_RETURN(auto dilations, attr_or("dilations", 1, spatial));
  EDGE_ASSIGN_OR_RETURN(auto pads, attr_or("pads", 0, 2 * spatial));
  const bool ceil_mode = n.Int("ceil_mode", 0) != 0;
  if (ceil_mode && !allow_ceil) return Fail(ErrorCode::kInvalidArgument, "ceil_mode is not supported");
  std::string auto_pad = "NOTSET";
  if (const OnnxAttr* a = n.Find("auto_pad")) auto_pad = a->s;
  const size_t off = 2;
  for (size_t d = 0; d < spatial; ++d) {
    if (auto_pad == "VALID") {
      pads[d] = pads[d + spatial] = 0;
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      if (strides[d] <= 0) return Fail(ErrorCode::kInvalidArgument, "invalid stride");
      const int64_t in = in_shape[off + d];
      const int64_t out = (in + strides[d] - 1) / strides[d];
      const int64_t total = std::max<int64_t>(0, (out - 1) * strides[d] + dilations[d] * (kernel[d] - 1) + 1 - in);
      pads[d] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      pads[d + spatial] = total - pads[d];
    } else if (auto_pad != "NOTSET") {
      return Fail(ErrorCode::kInvalidArgument, "unsupported auto_pad '" + auto_pad + "'");
    }
  }
  out_shape = {in_shape[0], in_shape[1]};
  for (size_t d = 0; d < spatial; ++d) {
    auto o = WindowOutput(in_shape[off + d], kernel[d], strides[d], dilations[d], pads[d],
                          pads[d + spatial], ceil_mode);
    if (!o) return Fail(o.error());
    out_shape.push_back(*o);
  }
  // Internally always 2-D: a 1-D window is a 1 x L window.
  const size_t b = spatial == 1 ? 1 : 0;
  for (size_t d = 0; d < spatial; ++d) {
    node.kernel[b + d] = kernel[d];
    node.stride[b + d] = strides[d];
    node.dilation[b + d] = dilations[d];
    node.pad[b + d] = pads[d];
    node.pad[2 + b + d] = pads[d + spatial];
  }
  return Ok();
}

Status Lowerer::LowerConv(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"kernel_shape", "strides", "pads", "dilations", "group", "auto_pad"}));
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing weights");
  const std::string& w_name = n.inputs[1];
  const std::string b_name = n.inputs.size() > 2 ? n.inputs[2] : "";
  if (!IsConst(w_name) && !IsQConst(w_name)) {
    return Fail(ErrorCode::kInvalidArgument, "weights must be constant");
  }
  if (!b_name.empty() && !IsConst(b_name) && !IsQConst(b_name)) {
    return Fail(ErrorCode::kInvalidArgument, "bias must be constant");
  }
  EDGE_ASSIGN_OR_RETURN(auto w_shape, ShapeOfName(w_name));
  EDGE_ASSIGN_OR_RETURN(auto x_shape, ShapeOfName(n.inputs[0]));
  if (w_shape.size() < 3) return Fail(ErrorCode::kInvalidArgument, "weights must have rank 3 or 4");
  const size_t spatial = w_shape.size() - 2;
  Node node = MakeNode(OpKind::kConv, n);
  std::vector<int64_t> kernel(w_shape.begin() + 2, w_shape.end());
  if (auto ks = n.Ints("kernel_shape"); !ks.empty() && ks != kernel) {
    return Fail(ErrorCode::kInvalidArgument, "kernel_shape does not match the weights");
  }
  std::vector<int64_t> out_shape;
  EDGE_TRY(ParseWindow(n, spatial, x_shape, kernel, node, out_shape, false));
  node.group = n.Int("group", 1);
  const int64_t cout = w_shape[0];
  if (node.group <= 0 || x_shape[1] != w_shape[1] * node.group || cout % node.group != 0) {
    return Fail(ErrorCode::kInvalidArgument, "channel counts do not match the group count");
  }
  out_shape[1] = cout;
  if (!b_name.empty()) {
    EDGE_ASSIGN_OR_RETURN(auto b_shape, ShapeOfName(b_name));
    if (b_shape != std::vector<int64_t>{cout}) {
      return Fail(ErrorCode::kInvalidArgument, "bias must have shape [C_out]");
    }
  }

  // int8: DQ(x) and DQ(w) with symmetric weights, closed by Q.
  if (IsQuant(n.inputs[0]) && IsQConst(w_name)) {
    const QConst& wq = qconsts_.at(w_name);
    const bool symmetric = std::all_of(wq.zps.begin(), wq.zps.end(), [](int32_t z) { return z == 0; });
    const bool per_channel_ok = wq.axis == -1 || wq.axis == 0;
    EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
    if (tail && symmetric && per_channel_ok && !wq.is_int32) {
      const int x = syms_.at(n.inputs[0]).value;
      const float sx = g_.values[x].q.scale;
      Value w;
      w.name = w_name;
      w.dtype = DType::kI8;
      w.shape = w_shape;
      w.elements = wq.q.elements();
      w.is_const = true;
      w.ci.assign(wq.q.i.begin(), wq.q.i.end());
      for (int64_t c = 0; c < cout; ++c) w.cscale.push_back(wq.scales[wq.axis == 0 ? c : 0]);
      node.bias_q.assign(static_cast<size_t>(cout), 0);
      if (!b_name.empty()) {
        auto bias = FloatConst(b_name);
        const QConst* bq = IsQConst(b_name) ? &qconsts_.at(b_name) : nullptr;
        for (int64_t c = 0; c < cout; ++c) {
          const float acc_scale = sx * w.cscale[c];
          node.bias_q[c] = AccumulatorBias(*bias, bq, c, acc_scale);
        }
      }
      node.kind = OpKind::kQConv;
      node.in = {x, g_.AddValue(std::move(w))};
      EDGE_TRY(FinishQuant(*tail, out_shape, node));
      return Ok();
    }
  }

  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  const int w = ConstFloatValue(w_name, *FloatConst(w_name));
  node.in = {x, w};
  if (!b_name.empty()) node.in.push_back(ConstFloatValue(b_name, *FloatConst(b_name)));
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, out_shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

Status Lowerer::LowerGemmLike(const OnnxNode& n) {
  const bool is_gemm = n.op_type == "Gemm";
  if (is_gemm) {
    EDGE_TRY(CheckAttrs(n, {"alpha", "beta", "transA", "transB"}));
  } else {
    EDGE_TRY(CheckAttrs(n, {}));
  }
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing input");
  Node node = MakeNode(OpKind::kGemm, n);
  node.trans_a = is_gemm && n.Int("transA", 0) != 0;
  node.trans_b = is_gemm && n.Int("transB", 0) != 0;
  node.alpha = is_gemm ? n.Float("alpha", 1.0f) : 1.0f;
  node.beta = is_gemm ? n.Float("beta", 1.0f) : 1.0f;
  EDGE_ASSIGN_OR_RETURN(auto a_shape, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto b_shape, ShapeOfName(n.inputs[1]));
  const bool b_const = IsConst(n.inputs[1]) || IsQConst(n.inputs[1]);
  const std::string c_name = is_gemm && n.inputs.size() > 2 ? n.inputs[2] : "";

  if (!is_gemm && (!b_const || b_shape.size() != 2 || a_shape.size() < 2)) {
    // General batched float MatMul of two activations (or unusual ranks).
    if (a_shape.size() < 2 || b_shape.size() < 2) {
      return Fail(ErrorCode::kInvalidArgument, "MatMul operands must have rank >= 2");
    }
    std::vector<int64_t> ab(a_shape.begin(), a_shape.end() - 2), bb(b_shape.begin(), b_shape.end() - 2);
    EDGE_ASSIGN_OR_RETURN(auto batch, BroadcastShapes(ab, bb));
    if (a_shape.back() != b_shape[b_shape.size() - 2]) {
      return Fail(ErrorCode::kInvalidArgument, "MatMul inner dimensions differ");
    }
    batch.push_back(a_shape[a_shape.size() - 2]);
    batch.push_back(b_shape.back());
    EDGE_ASSIGN_OR_RETURN(int a, AsFloat(n.inputs[0]));
    EDGE_ASSIGN_OR_RETURN(int b, AsFloat(n.inputs[1]));
    node.kind = OpKind::kMatMul;
    node.in = {a, b};
    EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, batch));
    node.out = {out};
    AddNode(std::move(node));
    SetFloat(n.outputs[0], out);
    return Ok();
  }
  if (!b_const) return Fail(ErrorCode::kInvalidArgument, "Gemm weights (B) must be constant");
  if (is_gemm && (a_shape.size() != 2 || b_shape.size() != 2)) {
    return Fail(ErrorCode::kInvalidArgument, "Gemm operands must be 2-D");
  }
  // Canonical weights: [N][K], one row per output channel.
  const int64_t k_dim = node.trans_b ? b_shape[1] : b_shape[0];
  const int64_t n_dim = node.trans_b ? b_shape[0] : b_shape[1];
  const int64_t a_k = node.trans_a ? a_shape[0] : a_shape.back();
  if (a_k != k_dim) return Fail(ErrorCode::kInvalidArgument, "inner dimensions differ");
  int64_t m_dim = 1;
  std::vector<int64_t> out_shape;
  if (node.trans_a) {
    m_dim = a_shape[1];
    out_shape = {m_dim, n_dim};
  } else {
    for (size_t d = 0; d + 1 < a_shape.size(); ++d) m_dim *= a_shape[d];
    out_shape.assign(a_shape.begin(), a_shape.end() - 1);
    out_shape.push_back(n_dim);
  }
  auto to_rows = [&](auto get) {  // returns [N][K] layout
    std::vector<decltype(get(0))> rows(static_cast<size_t>(n_dim * k_dim));
    for (int64_t r = 0; r < n_dim; ++r) {
      for (int64_t k = 0; k < k_dim; ++k) {
        rows[r * k_dim + k] = get(node.trans_b ? r * k_dim + k : k * n_dim + r);
      }
    }
    return rows;
  };
  // Bias per output: C must broadcast to [M, N]; it is expanded to [N] or [M, N].
  std::optional<ConstTensor> bias;
  if (!c_name.empty()) {
    bias = FloatConst(c_name);
    if (!bias) return Fail(ErrorCode::kInvalidArgument, "Gemm C must be constant");
    EDGE_ASSIGN_OR_RETURN(auto bs, BroadcastShapes(bias->shape, {m_dim, n_dim}));
    if (bs != std::vector<int64_t>{m_dim, n_dim}) {
      return Fail(ErrorCode::kInvalidArgument, "Gemm C does not broadcast to [M, N]");
    }
  }
  const bool per_row_bias = bias && bias->shape.size() == 2 && bias->shape[0] == m_dim && m_dim > 1;

  if (IsQuant(n.inputs[0]) && IsQConst(n.inputs[1]) && !node.trans_a && node.alpha == 1.0f &&
      (node.beta == 1.0f || !bias) && !per_row_bias) {
    const QConst& wq = qconsts_.at(n.inputs[1]);
    const int64_t channel_axis = node.trans_b ? 0 : 1;
    const bool symmetric = std::all_of(wq.zps.begin(), wq.zps.end(), [](int32_t z) { return z == 0; });
    EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
    if (tail && symmetric && !wq.is_int32 && (wq.axis == -1 || wq.axis == channel_axis)) {
      const int x = syms_.at(n.inputs[0]).value;
      const float sx = g_.values[x].q.scale;
      Value w;
      w.name = n.inputs[1];
      w.dtype = DType::kI8;
      w.shape = {n_dim, k_dim};
      w.elements = n_dim * k_dim;
      w.is_const = true;
      w.ci = to_rows([&](int64_t k) { return static_cast<int32_t>(wq.q.i[k]); });
      for (int64_t c = 0; c < n_dim; ++c) w.cscale.push_back(wq.scales[wq.axis >= 0 ? c : 0]);
      node.bias_q.assign(static_cast<size_t>(n_dim), 0);
      if (bias) {
        const QConst* bq = IsQConst(c_name) ? &qconsts_.at(c_name) : nullptr;
        for (int64_t c = 0; c < n_dim; ++c) {
          const float acc_scale = sx * w.cscale[c];
          const int64_t bi = bias->elements() == 1 ? 0 : c;
          node.bias_q[c] = AccumulatorBias(*bias, bq, bi, acc_scale);
        }
      }
      node.kind = OpKind::kQGemm;
      node.in = {x, g_.AddValue(std::move(w))};
      EDGE_TRY(FinishQuant(*tail, out_shape, node));
      return Ok();
    }
  }

  EDGE_ASSIGN_OR_RETURN(int a, AsFloat(n.inputs[0]));
  ConstTensor wf = *FloatConst(n.inputs[1]);
  ConstTensor rows;
  rows.dtype = DType::kF32;
  rows.shape = {n_dim, k_dim};
  rows.f = to_rows([&](int64_t k) { return wf.f[k] * node.alpha; });
  node.in = {a, ConstFloatValue(n.inputs[1], std::move(rows))};
  if (bias) {
    // Expand C to [N] (or [M, N] when it varies by row) with beta applied.
    ConstTensor c;
    c.dtype = DType::kF32;
    c.shape = per_row_bias ? std::vector<int64_t>{m_dim, n_dim} : std::vector<int64_t>{n_dim};
    const int64_t rows_c = per_row_bias ? m_dim : 1;
    for (int64_t r = 0; r < rows_c; ++r) {
      for (int64_t col = 0; col < n_dim; ++col) {
        const auto& s = bias->shape;
        int64_t idx = 0;
        if (s.size() == 2) {
          idx = (s[0] == 1 ? 0 : r) * s[1] + (s[1] == 1 ? 0 : col);
        } else if (s.size() == 1) {
          idx = s[0] == 1 ? 0 : col;
        }
        c.f.push_back(bias->f[idx] * node.beta);
      }
    }
    node.in.push_back(ConstFloatValue(c_name, std::move(c)));
  }
  node.trans_b = false;
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, out_shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

Status Lowerer::LowerBinary(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {}));
  if (n.inputs.size() != 2) return Fail(ErrorCode::kInvalidArgument, "expects two inputs");
  EDGE_ASSIGN_OR_RETURN(auto sa, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(auto sb, ShapeOfName(n.inputs[1]));
  EDGE_ASSIGN_OR_RETURN(auto out_shape, BroadcastShapes(sa, sb));
  Node node = MakeNode(OpKind::kAdd, n);
  const bool quantizable = n.op_type == "Add" || n.op_type == "Mul";
  auto quant_operand = [&](const std::string& name) -> std::optional<int> {
    if (IsQuant(name)) return syms_.at(name).value;
    if (IsQConst(name)) {
      const QConst& qc = qconsts_.at(name);
      if (qc.axis != -1 || qc.is_int32) return std::nullopt;
      Value v;
      v.name = name;
      v.dtype = DType::kI8;
      v.shape = qc.q.shape;
      v.elements = qc.q.elements();
      v.is_const = true;
      v.ci.assign(qc.q.i.begin(), qc.q.i.end());
      v.q = QParams{qc.scales[0], qc.zps[0]};
      return g_.AddValue(std::move(v));
    }
    return std::nullopt;
  };
  if (quantizable && (IsQuant(n.inputs[0]) || IsQuant(n.inputs[1]))) {
    EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
    if (tail) {
      auto a = quant_operand(n.inputs[0]);
      auto b = quant_operand(n.inputs[1]);
      if (a && b) {
        node.kind = n.op_type == "Add" ? OpKind::kQAdd : OpKind::kQMul;
        node.in = {*a, *b};
        EDGE_TRY(FinishQuant(*tail, out_shape, node));
        return Ok();
      }
    }
  }
  node.kind = n.op_type == "Add"   ? OpKind::kAdd
              : n.op_type == "Mul" ? OpKind::kMul
              : n.op_type == "Sub" ? OpKind::kSub
                                   : OpKind::kDiv;
  EDGE_ASSIGN_OR_RETURN(int a, AsFloat(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(int b, AsFloat(n.inputs[1]));
  node.in = {a, b};
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, out_shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

Status Lowerer::LowerUnary(const OnnxNode& n) {
  Node node = MakeNode(OpKind::kUnary, n);
  const std::string& op = n.op_type;
  if (op == "Relu" || op == "Sigmoid" || op == "Tanh" || op == "HardSwish") {
    EDGE_TRY(CheckAttrs(n, {}));
  } else if (op == "LeakyRelu") {
    EDGE_TRY(CheckAttrs(n, {"alpha"}));
  } else if (op == "HardSigmoid") {
    EDGE_TRY(CheckAttrs(n, {"alpha", "beta"}));
  } else {
    EDGE_TRY(CheckAttrs(n, {}));
  }
  if (op == "Relu") {
    node.unary = UnaryKind::kRelu;
    node.act_min = 0.0f;
  } else if (op == "Clip") {
    node.unary = UnaryKind::kClip;
    auto bounds = ClipBounds(n);
    if (!bounds) return Fail(ErrorCode::kInvalidArgument, "min and max must be constant scalars");
    node.act_min = bounds->first;
    node.act_max = bounds->second;
  } else if (op == "Sigmoid") {
    node.unary = UnaryKind::kSigmoid;
  } else if (op == "Tanh") {
    node.unary = UnaryKind::kTanh;
  } else if (op == "LeakyRelu") {
    node.unary = UnaryKind::kLeakyRelu;
    node.alpha = n.Float("alpha", 0.01f);
  } else if (op == "HardSigmoid") {
    node.unary = UnaryKind::kHardSigmoid;
    node.alpha = n.Float("alpha", 0.2f);
    node.beta = n.Float("beta", 0.5f);
  } else {
    node.unary = UnaryKind::kHardSwish;
  }
  EDGE_ASSIGN_OR_RETURN(auto shape, ShapeOfName(n.inputs[0]));
  EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, node, OpKind::kQLut, shape));
  if (quantized) return Ok();
  return EmitFloat(n, std::move(node), shape);
}

Status Lowerer::LowerPool(const OnnxNode& n) {
  EDGE_ASSIGN_OR_RETURN(auto x_shape, ShapeOfName(n.inputs[0]));
  Node node = MakeNode(OpKind::kMaxPool, n);
  std::vector<int64_t> out_shape;
  if (n.op_type == "GlobalAveragePool") {
    EDGE_TRY(CheckAttrs(n, {}));
    if (x_shape.size() < 3 || x_shape.size() > 4) {
      return Fail(ErrorCode::kInvalidArgument, "input must be 3-D or 4-D");
    }
    out_shape = x_shape;
    for (size_t d = 2; d < out_shape.size(); ++d) out_shape[d] = 1;
    node.kind = OpKind::kGlobalAvgPool;
  } else {
    if (n.op_type == "MaxPool") {
      EDGE_TRY(CheckAttrs(n, {"kernel_shape", "strides", "pads", "dilations", "auto_pad", "ceil_mode", "storage_order"}));
      if (n.outputs.size() > 1) return Fail(ErrorCode::kInvalidArgument, "the Indices output is not supported");
    } else {
      EDGE_TRY(CheckAttrs(n, {"kernel_shape", "strides", "pads", "auto_pad", "ceil_mode", "count_include_pad"}));
      node.kind = OpKind::kAvgPool;
      node.count_include_pad = n.Int("count_include_pad", 0) != 0;
    }
    const auto kernel = n.Ints("kernel_shape");
    if (kernel.empty()) return Fail(ErrorCode::kInvalidArgument, "kernel_shape is required");
    EDGE_TRY(ParseWindow(n, kernel.size(), x_shape, kernel, node, out_shape, true));
  }
  if (IsQuant(n.inputs[0]) && node.kind == OpKind::kMaxPool) {
    // max commutes with dequantization: the int8 result keeps the input's parameters
    node.kind = OpKind::kQMaxPool;
    return EmitQuantSameParams(n, std::move(node), syms_.at(n.inputs[0]).value, out_shape);
  }
  const OpKind qkind = node.kind == OpKind::kAvgPool ? OpKind::kQAvgPool : OpKind::kQGlobalAvgPool;
  EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, node, qkind, out_shape));
  if (quantized) return Ok();
  return EmitFloat(n, std::move(node), out_shape);
}

Status Lowerer::LowerReshapeLike(const OnnxNode& n) {
  const std::string& op = n.op_type;
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(in_shape.size());
  int64_t count = 1;
  for (int64_t d : in_shape) count *= d;
  std::vector<int64_t> out_shape;
  auto axes_of = [&](const char* role) -> Result<std::vector<int64_t>> {
    if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
      EDGE_ASSIGN_OR_RETURN(const ConstTensor* t, Const(n.inputs[1], role));
      return t->i;
    }
    return n.Ints("axes");
  };
  if (op == "Reshape") {
    EDGE_TRY(CheckAttrs(n, {"allowzero"}));
    if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing shape");
    EDGE_ASSIGN_OR_RETURN(const ConstTensor* target, Const(n.inputs[1], "shape"));
    if (target->dtype != DType::kI64) return Fail(ErrorCode::kInvalidArgument, "shape must be int64");
    const bool allowzero = n.Int("allowzero", 0) != 0;
    int64_t infer = -1, known = 1;
    for (size_t d = 0; d < target->i.size(); ++d) {
      int64_t v = target->i[d];
      if (v == 0 && !allowzero) {
        if (d >= in_shape.size()) return Fail(ErrorCode::kInvalidArgument, "0 in shape beyond input rank");
        v = in_shape[d];
      }
      if (v == -1) {
        if (infer >= 0) return Fail(ErrorCode::kInvalidArgument, "more than one -1 in shape");
        infer = static_cast<int64_t>(d);
        v = 1;
      } else if (v < 0) {
        return Fail(ErrorCode::kInvalidArgument, "negative dimension in shape");
      }
      if (v > kMaxTensorElements) return Fail(ErrorCode::kInvalidArgument, "dimension too large");
      known *= v;
      if (known > kMaxTensorElements) return Fail(ErrorCode::kInvalidArgument, "shape too large");
      out_shape.push_back(v);
    }
    if (infer >= 0) {
      if (known == 0 || count % known != 0) return Fail(ErrorCode::kInvalidArgument, "cannot infer -1");
      out_shape[infer] = count / known;
    }
  } else if (op == "Flatten") {
    EDGE_TRY(CheckAttrs(n, {"axis"}));
    const int64_t a = n.Int("axis", 1);
    if (a < -rank || a > rank) return Fail(ErrorCode::kInvalidArgument, "axis out of range");
    const int64_t axis = a < 0 ? a + rank : a;
    int64_t outer = 1;
    for (int64_t d = 0; d < axis; ++d) outer *= in_shape[d];
    out_shape = {outer, outer == 0 ? 0 : count / outer};
  } else if (op == "Squeeze") {
    EDGE_TRY(CheckAttrs(n, {"axes"}));
    EDGE_ASSIGN_OR_RETURN(auto axes, axes_of("axes"));
    std::vector<bool> drop(in_shape.size(), false);
    if (axes.empty()) {
      for (size_t d = 0; d < in_shape.size(); ++d) drop[d] = in_shape[d] == 1;
    }
    for (int64_t a : axes) {
      EDGE_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(a, rank));
      if (in_shape[ax] != 1) return Fail(ErrorCode::kInvalidArgument, "squeezed axis is not 1");
      drop[ax] = true;
    }
    for (size_t d = 0; d < in_shape.size(); ++d) {
      if (!drop[d]) out_shape.push_back(in_shape[d]);
    }
  } else {  // Unsqueeze
    EDGE_TRY(CheckAttrs(n, {"axes"}));
    EDGE_ASSIGN_OR_RETURN(auto axes, axes_of("axes"));
    const int64_t out_rank = rank + static_cast<int64_t>(axes.size());
    if (out_rank > kMaxRank) return Fail(ErrorCode::kInvalidArgument, "rank too large");
    std::vector<bool> add(static_cast<size_t>(out_rank), false);
    for (int64_t a : axes) {
      EDGE_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(a, out_rank));
      if (add[ax]) return Fail(ErrorCode::kInvalidArgument, "repeated axis");
      add[ax] = true;
    }
    size_t src = 0;
    for (int64_t d = 0; d < out_rank; ++d) out_shape.push_back(add[d] ? 1 : in_shape[src++]);
  }
  int64_t out_count = 1;
  for (int64_t d : out_shape) out_count *= d;
  if (out_count != count) {
    return Fail(ErrorCode::kInvalidArgument, "element count changes from " + std::to_string(count) +
                                                 " to " + std::to_string(out_count));
  }
  const std::string& in = n.inputs[0];
  if (IsConst(in)) {
    ConstTensor t = consts_.at(in);
    t.shape = out_shape;
    consts_[n.outputs[0]] = std::move(t);
    return Ok();
  }
  if (IsQConst(in)) {
    QConst qc = qconsts_.at(in);
    if (qc.axis >= 0) return Fail(ErrorCode::kInvalidArgument, "reshape of a per-axis quantized constant");
    qc.q.shape = out_shape;
    qconsts_[n.outputs[0]] = std::move(qc);
    return Ok();
  }
  EDGE_ASSIGN_OR_RETURN(Sym s, Get(in));
  if (s.kind == Sym::Kind::kInt8Raw) return Fail(ErrorCode::kInvalidArgument, "int8 input without DequantizeLinear");
  Value alias = g_.values[s.value];
  alias.name = n.outputs[0];
  alias.shape = out_shape;
  alias.alias_of = s.value;
  alias.producer = -1;
  alias.is_const = false;
  const int v = g_.AddValue(std::move(alias));
  syms_[n.outputs[0]] = Sym{s.kind, v, false};
  return Ok();
}

Status Lowerer::LowerTranspose(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"perm"}));
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(in_shape.size());
  Node node = MakeNode(OpKind::kTranspose, n);
  node.perm = n.Ints("perm");
  if (node.perm.empty()) {
    for (int64_t d = rank - 1; d >= 0; --d) node.perm.push_back(d);
  }
  if (static_cast<int64_t>(node.perm.size()) != rank) return Fail(ErrorCode::kInvalidArgument, "perm has the wrong length");
  std::vector<bool> seen(static_cast<size_t>(rank), false);
  std::vector<int64_t> out_shape;
  for (int64_t p : node.perm) {
    if (p < 0 || p >= rank || seen[p]) return Fail(ErrorCode::kInvalidArgument, "perm is not a permutation");
    seen[p] = true;
    out_shape.push_back(in_shape[p]);
  }
  if (IsQuant(n.inputs[0])) {
    const int x = syms_.at(n.inputs[0]).value;
    return EmitQuantSameParams(n, std::move(node), x, out_shape);
  }
  return EmitFloat(n, std::move(node), out_shape);
}

Status Lowerer::LowerConcat(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axis"}));
  if (n.inputs.empty()) return Fail(ErrorCode::kInvalidArgument, "no inputs");
  EDGE_ASSIGN_OR_RETURN(auto first, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(first.size());
  Node node = MakeNode(OpKind::kConcat, n);
  EDGE_ASSIGN_OR_RETURN(node.axis, NormalizeAxis(n.Int("axis", 0), rank));
  std::vector<int64_t> out_shape = first;
  out_shape[node.axis] = 0;
  bool all_quant = true;
  for (const auto& in : n.inputs) {
    EDGE_ASSIGN_OR_RETURN(auto s, ShapeOfName(in));
    if (static_cast<int64_t>(s.size()) != rank) return Fail(ErrorCode::kInvalidArgument, "inputs differ in rank");
    for (int64_t d = 0; d < rank; ++d) {
      if (d != node.axis && s[d] != first[d]) return Fail(ErrorCode::kInvalidArgument, "inputs differ off the axis");
    }
    out_shape[node.axis] += s[node.axis];
    all_quant = all_quant && IsQuant(in);
  }
  if (all_quant) {
    std::vector<int> ins;
    bool same = true;
    for (const auto& in : n.inputs) {
      ins.push_back(syms_.at(in).value);
      same = same && g_.values[ins.back()].q == g_.values[ins[0]].q;
    }
    node.in = ins;
    if (same) {
      EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kI8, out_shape, g_.values[ins[0]].q));
      node.out = {out};
      AddNode(std::move(node));
      SetQuant(n.outputs[0], out);
      return Ok();
    }
    EDGE_ASSIGN_OR_RETURN(auto tail, MatchQuantTail(n.outputs[0]));
    if (tail) {
      node.kind = OpKind::kQConcat;
      EDGE_TRY(FinishQuant(*tail, out_shape, node));
      return Ok();
    }
  }
  node.in.clear();
  for (const auto& in : n.inputs) {
    EDGE_ASSIGN_OR_RETURN(int v, AsFloat(in));
    node.in.push_back(v);
  }
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, out_shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

Status Lowerer::LowerPad(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"mode"}));
  if (const OnnxAttr* m = n.Find("mode"); m != nullptr && m->s != "constant") {
    return Fail(ErrorCode::kInvalidArgument, "only constant padding is supported, not '" + m->s + "'");
  }
  if (n.inputs.size() < 2) return Fail(ErrorCode::kInvalidArgument, "missing pads");
  if (n.inputs.size() > 3 && !n.inputs[3].empty()) return Fail(ErrorCode::kInvalidArgument, "the axes input is not supported");
  EDGE_ASSIGN_OR_RETURN(const ConstTensor* pads, Const(n.inputs[1], "pads"));
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const size_t rank = in_shape.size();
  if (pads->i.size() != 2 * rank) return Fail(ErrorCode::kInvalidArgument, "pads has the wrong length");
  Node node = MakeNode(OpKind::kPad, n);
  node.pads = pads->i;
  std::vector<int64_t> out_shape = in_shape;
  for (size_t d = 0; d < rank; ++d) {
    if (node.pads[d] < 0 || node.pads[d + rank] < 0 || node.pads[d] > 4096 || node.pads[d + rank] > 4096) {
      return Fail(ErrorCode::kInvalidArgument, "pads must be between 0 and 4096");
    }
    out_shape[d] += node.pads[d] + node.pads[d + rank];
  }
  if (n.inputs.size() > 2 && !n.inputs[2].empty()) {
    auto v = FloatConst(n.inputs[2]);
    if (!v || v->elements() != 1) return Fail(ErrorCode::kInvalidArgument, "constant_value must be a constant scalar");
    node.pad_value = v->f[0];
  }
  if (std::all_of(node.pads.begin(), node.pads.end(), [](int64_t p) { return p == 0; })) {
    EDGE_ASSIGN_OR_RETURN(Sym s, Get(n.inputs[0]));
    if (s.kind == Sym::Kind::kFloat || s.kind == Sym::Kind::kQuant) {
      syms_[n.outputs[0]] = s;  // padding by nothing: the same tensor
      return Ok();
    }
  }
  if (IsQuant(n.inputs[0]) && node.pad_value == 0.0f) {
    // zero padding in the float domain is the zero point in the int8 domain
    const int x = syms_.at(n.inputs[0]).value;
    return EmitQuantSameParams(n, std::move(node), x, out_shape);
  }
  return EmitFloat(n, std::move(node), out_shape);
}

Status Lowerer::LowerSoftmax(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axis"}));
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  Node node = MakeNode(OpKind::kSoftmax, n);
  const std::vector<int64_t> shape = ShapeOf(x);
  EDGE_ASSIGN_OR_RETURN(node.axis, NormalizeAxis(n.Int("axis", -1), static_cast<int64_t>(shape.size())));
  node.in = {x};
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

Status Lowerer::LowerReduceMean(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"axes", "keepdims", "noop_with_empty_axes"}));
  EDGE_ASSIGN_OR_RETURN(auto in_shape, ShapeOfName(n.inputs[0]));
  const int64_t rank = static_cast<int64_t>(in_shape.size());
  std::vector<int64_t> axes = n.Ints("axes");
  if (n.inputs.size() > 1 && !n.inputs[1].empty()) {
    EDGE_ASSIGN_OR_RETURN(const ConstTensor* t, Const(n.inputs[1], "axes"));
    axes = t->i;
  }
  if (axes.empty()) {
    if (n.Int("noop_with_empty_axes", 0) != 0) return Fail(ErrorCode::kInvalidArgument, "noop_with_empty_axes is not supported");
    for (int64_t d = 0; d < rank; ++d) axes.push_back(d);
  }
  Node node = MakeNode(OpKind::kReduceMean, n);
  std::vector<bool> reduce(static_cast<size_t>(rank), false);
  for (int64_t a : axes) {
    EDGE_ASSIGN_OR_RETURN(int64_t ax, NormalizeAxis(a, rank));
    reduce[ax] = true;
  }
  const bool keepdims = n.Int("keepdims", 1) != 0;
  std::vector<int64_t> out_shape;
  node.axes.clear();
  for (int64_t d = 0; d < rank; ++d) {
    if (reduce[d]) {
      node.axes.push_back(d);
      if (keepdims) out_shape.push_back(1);
    } else {
      out_shape.push_back(in_shape[d]);
    }
  }
  EDGE_ASSIGN_OR_RETURN(bool quantized, TryQuantUnary(n, node, OpKind::kQReduceMean, out_shape));
  if (quantized) return Ok();
  return EmitFloat(n, std::move(node), out_shape);
}

Status Lowerer::LowerBatchNorm(const OnnxNode& n) {
  EDGE_TRY(CheckAttrs(n, {"epsilon", "momentum", "training_mode", "spatial"}));
  if (n.Int("training_mode", 0) != 0 || n.outputs.size() > 1) {
    return Fail(ErrorCode::kInvalidArgument, "training mode is not supported");
  }
  if (n.inputs.size() != 5) return Fail(ErrorCode::kInvalidArgument, "expects 5 inputs");
  std::vector<ConstTensor> p;
  for (size_t k = 1; k < 5; ++k) {
    auto c = FloatConst(n.inputs[k]);
    if (!c) return Fail(ErrorCode::kInvalidArgument, "scale, bias, mean and variance must be constant");
    p.push_back(std::move(*c));
  }
  EDGE_ASSIGN_OR_RETURN(int x, AsFloat(n.inputs[0]));
  const std::vector<int64_t> shape = ShapeOf(x);  // a copy: values are added below
  if (shape.size() < 2) return Fail(ErrorCode::kInvalidArgument, "input rank must be >= 2");
  const int64_t channels = shape[1];
  for (const auto& t : p) {
    if (t.elements() != channels) return Fail(ErrorCode::kInvalidArgument, "parameter size differs from the channel count");
  }
  const float eps = n.Float("epsilon", 1e-5f);
  std::vector<float> mul(static_cast<size_t>(channels)), add(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    mul[c] = p[0].f[c] / std::sqrt(p[3].f[c] + eps);
    add[c] = p[1].f[c] - p[2].f[c] * mul[c];
  }
  // Fold into the producing float Conv when nothing else reads the conv output.
  const int producer = g_.values[x].producer;
  if (!options_.keep_all_tensors && producer >= 0 && g_.nodes[producer].kind == OpKind::kConv &&
      g_.values[x].alias_of < 0) {
    size_t consumer = 0;
    std::string conv_out;
    for (const auto& [name, s] : syms_) {
      if (s.kind == Sym::Kind::kFloat && s.value == x) conv_out = name;
    }
    Node& conv = g_.nodes[producer];
    if (!conv_out.empty() && SingleConsumer(conv_out, consumer)) {
      Value& w = g_.values[conv.in[1]];
      const int64_t per_out = w.elements / channels;
      for (int64_t c = 0; c < channels; ++c) {
        for (int64_t k = 0; k < per_out; ++k) w.cf[c * per_out + k] *= mul[c];
      }
      if (conv.in.size() < 3) {
        conv.in.push_back(ConstFloatValue(n.name + ".bias", MakeFloatTensor({channels}, std::vector<float>(channels, 0.0f))));
      }
      Value& b = g_.values[conv.in[2]];
      for (int64_t c = 0; c < channels; ++c) b.cf[c] = b.cf[c] * mul[c] + add[c];
      SetFloat(n.outputs[0], x);
      return Ok();
    }
  }
  Node node = MakeNode(OpKind::kChannelAffine, n);
  node.in = {x, ConstFloatValue(n.name + ".mul", MakeFloatTensor({channels}, mul)),
             ConstFloatValue(n.name + ".add", MakeFloatTensor({channels}, add))};
  EDGE_ASSIGN_OR_RETURN(int out, NewValue(n.outputs[0], DType::kF32, shape));
  node.out = {out};
  AddNode(std::move(node));
  SetFloat(n.outputs[0], out);
  return Ok();
}

}  // namespace

Result<Graph> Lower(const OnnxGraph& onnx, const LowerOptions& options) {
  Lowerer lowerer(onnx, options);
  EDGE_ASSIGN_OR_RETURN(Graph g, lowerer.Run());
  if (!options.keep_all_tensors) FoldGraph(g);
  return g;
}

}  // namespace edge::engine
