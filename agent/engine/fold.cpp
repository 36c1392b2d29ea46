// Graph-level folds that run after lowering, when every node and use is known.
#include <algorithm>
#include <limits>
#include <vector>

#include "agent/engine/compile.h"
#include "agent/engine/lower.h"

namespace edge::engine {
namespace {

// Reads of each value: node inputs, graph outputs and aliases (which read through it).
std::vector<int> CountUses(const Graph& g) {
  std::vector<int> uses(g.values.size(), 0);
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    for (int v : n.in) ++uses[v];
  }
  for (int v : g.outputs) ++uses[v];
  for (const Value& v : g.values) {
    if (v.alias_of >= 0) ++uses[v.alias_of];
  }
  return uses;
}

// Pad (spatial only, zero in the float domain) feeding a Conv becomes the Conv's own padding.
void FoldPadIntoConv(Graph& g) {
  auto uses = CountUses(g);
  for (Node& conv : g.nodes) {
    if (conv.dead || (conv.kind != OpKind::kConv && conv.kind != OpKind::kQConv)) continue;
    const int x = conv.in[0];
    const int p = g.values[x].producer;
    if (p < 0 || uses[x] != 1) continue;
    Node& pad = g.nodes[p];
    if (pad.dead || pad.kind != OpKind::kPad || pad.pad_mode != PadMode::kConstant ||
        pad.pad_value != 0.0f || pad.in.size() != 1) {  // a second input: a computed value
      continue;
    }
    const size_t rank = pad.pads.size() / 2;
    if (rank != g.values[x].shape.size() || pad.pads[0] != 0 || pad.pads[1] != 0 ||
        pad.pads[rank] != 0 || pad.pads[rank + 1] != 0) {
      continue;
    }
    if (rank == 4) {
      conv.pad[0] += pad.pads[2];
      conv.pad[1] += pad.pads[3];
      conv.pad[2] += pad.pads[6];
      conv.pad[3] += pad.pads[7];
    } else if (rank == 3) {
      conv.pad[1] += pad.pads[2];
      conv.pad[3] += pad.pads[5];
    } else {
      continue;
    }
    conv.in[0] = pad.in[0];
    pad.dead = true;
  }
}

// Relu/Clip after a float Conv/Gemm becomes the kernel's output clamp.
void FoldActivationIntoFloatOps(Graph& g) {
  auto uses = CountUses(g);
  for (Node& act : g.nodes) {
    if (act.dead || act.kind != OpKind::kUnary ||
        (act.unary != UnaryKind::kRelu && act.unary != UnaryKind::kClip)) {
      continue;
    }
    const int x = act.in[0];
    const int p = g.values[x].producer;
    if (p < 0 || uses[x] != 1) continue;
    Node& prod = g.nodes[p];
    if (prod.dead || (prod.kind != OpKind::kConv && prod.kind != OpKind::kGemm)) continue;
    prod.act_min = std::max(prod.act_min, act.act_min);
    prod.act_max = std::min(prod.act_max, act.act_max);
    prod.out = act.out;
    g.values[act.out[0]].producer = p;
    act.dead = true;
  }
}

bool SameShape(const Graph& g, const Node& n) {
  for (int v : n.in) {
    if (g.values[v].shape != g.values[n.out[0]].shape) return false;
  }
  return true;
}

// An int8 Mul of x and a lookup of x that only the Mul reads, all of one shape: Swish/SiLU as
// x * Sigmoid(x), x * Tanh(x), GELU as x * (Erf(x / sqrt(2)) + 1) once its lookups are one
// chain. It becomes a kQMul of x alone with the lookup as its gate (Node::gate), itself a
// lookup whose table holds both ops' bytes: one pass over x instead of two and a buffer fewer.
// FoldGraph runs it twice: before FoldElementwiseIntoQConv, so a conv producing x takes an
// activation's gate into its epilogue, and after the DequantizeLinear -> op -> QuantizeLinear
// lookups and their chains exist (GELU's), followed by one more chain pass so the lookups after
// the Mul (GELU's * 0.5) join it.
void FoldSelfGate(Graph& g) {
  auto uses = CountUses(g);
  for (Node& mul : g.nodes) {
    if (mul.dead || mul.kind != OpKind::kQMul || mul.in.size() != 2 || !SameShape(g, mul)) continue;
    for (size_t k = 0; k < 2; ++k) {
      const int s = mul.in[k], x = mul.in[1 - k];
      const int p = g.values[s].producer;
      if (p < 0 || uses[s] != 1 || g.values[s].alias_of >= 0) continue;
      Node& gate = g.nodes[p];
      const int j = LookupInputOf(gate, g);
      if (j < 0 || !gate.channel_alpha.empty() || !gate.gate.empty() || gate.in[static_cast<size_t>(j)] != x) continue;
      mul.in = {x};
      mul.gate = {gate};
      gate.dead = true;
      --uses[x];
      break;
    }
  }
}

// An int8 lookup (activation) or same-shape residual Add that is the only reader of an int8
// Conv's output runs inside the conv's step, on the output the conv just wrote: one step, one
// buffer and one trip through memory fewer, and the same bytes (the same kernels, in place).
// The Add's other operand must be computed before the conv, since it is read in the conv's step.
void FoldElementwiseIntoQConv(Graph& g) {
  auto uses = CountUses(g);
  for (Node& op : g.nodes) {
    const bool add = op.kind == OpKind::kQAdd && SameShape(g, op);
    const bool gated = op.kind == OpKind::kQMul && !op.gate.empty();
    // (a lookup per channel stays a step of its own: the epilogue applies one table)
    if (op.dead || (op.kind != OpKind::kQLut && !add && !gated) || !op.channel_alpha.empty()) continue;
    for (size_t k = 0; k < op.in.size(); ++k) {
      const int x = op.in[k];
      const int p = g.values[x].producer;
      if (p < 0 || uses[x] != 1 || g.values[x].alias_of >= 0) continue;
      Node& conv = g.nodes[p];
      if (conv.dead || conv.kind != OpKind::kQConv) continue;
      Node fused = op;
      if (add) {
        const int other = op.in[1 - k];
        if (g.values[g.StorageOf(other)].producer >= p) continue;
        fused.in = {x, other};  // float addition commutes: the operands' order changes no bit
        conv.in.push_back(other);
      }
      conv.epilogue.push_back(std::move(fused));
      conv.out = op.out;
      g.values[op.out[0]].producer = p;
      op.dead = true;
      break;
    }
  }
}

// A Concat input with other parameters than the output's (the Concat requantizes it) that only
// the Concat reads, produced by an int8 conv: the conv requantizes its own output as one more
// epilogue op (a lookup of the 256 codes through the Concat's requantization, the same bytes),
// so the input arrives with the output's parameters and PlaceConcatInputs (compile) lets the conv
// write it at its part of the Concat's output. Only where the parts are contiguous (every
// dimension before the axis 1) and the Concat clamps nothing (no folded Relu), else the Concat
// would still pass over the input. The same through a nearest Resize that only the Concat reads
// of a conv output that only the Resize reads (a detector's neck: upsample, then concatenate):
// the Resize moves codes, so requantizing before it gives the same bytes; it then carries the
// Concat's parameters and writes its part in place.
void FoldConcatRequantIntoQConv(Graph& g) {
  auto uses = CountUses(g);
  // The node that produces x and is only read once, or null.
  auto sole_producer = [&](int x) -> Node* {
    const int p = g.values[x].producer;
    if (p < 0 || uses[x] != 1 || g.values[x].alias_of >= 0 || g.nodes[p].dead) return nullptr;
    return &g.nodes[p];
  };
  for (Node& cat : g.nodes) {
    if (cat.dead || cat.kind != OpKind::kQConcat || cat.qmin != -128 || cat.qmax != 127 ||
        !g.ConcatPartsContiguous(cat)) {
      continue;
    }
    const QParams q = g.values[cat.out[0]].q;
    for (int& x : cat.in) {
      if (g.ConcatCopies(cat, x)) continue;
      Node* producer = sole_producer(x);
      if (producer == nullptr) continue;
      Node* resize = nullptr;
      if (producer->kind == OpKind::kResize && !producer->resize_offsets) {
        bool inside = true;  // no extrapolation value, which is a code in the input's parameters
        for (const auto& axis : producer->resize) {
          inside = inside && std::none_of(axis.lo.begin(), axis.lo.end(), [](int64_t i) { return i < 0; });
        }
        resize = inside ? producer : nullptr;
        producer = inside ? sole_producer(producer->in[0]) : nullptr;
      }
      if (producer == nullptr || producer->kind != OpKind::kQConv) continue;
      Node& conv = *producer;
      const int conv_out = conv.out[0];
      Value requantized = g.values[conv_out];
      requantized.name += " (requantized for " + cat.name + ")";
      requantized.q = q;
      const int v = g.AddValue(std::move(requantized));
      uses.push_back(1);
      Node op;
      op.kind = OpKind::kRequant;
      op.onnx_op = "Requantize";
      op.name = cat.name;
      op.in = {conv_out};
      op.out = {v};
      conv.epilogue.push_back(std::move(op));
      conv.out = {v};
      if (resize != nullptr) {
        resize->in[0] = v;
        g.values[x].q = q;  // the Resize's output, which only the Concat reads
      } else {
        x = v;
      }
    }
  }
}

bool IsFoldableFloatOp(const Node& n) {
  switch (n.kind) {
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kMax:
    case OpKind::kMin: case OpKind::kPow: case OpKind::kUnary: case OpKind::kSoftmax:
    case OpKind::kLayerNormRows:  // InstanceNormalization, LayerNormalization without its bias Add
      return true;
    case OpKind::kReduceMean:  // ReduceMax and ReduceMin (of codes where the scale allows)
      return n.reduce == ReduceKind::kMax || n.reduce == ReduceKind::kMin;
    default:
      return false;
  }
}

// DequantizeLinear -> float op -> QuantizeLinear, where the quantizer left an op in float (a
// LayerNorm's Sub/Div/Sqrt, a bias Add of an int8 MatMul, a GELU's Mul, Softmax): one step
// that reads the int8 inputs through the DequantizeLinear's parameters and quantizes its result
// in place of the QuantizeLinear. Per element the same float operations as the three steps (the
// DequantizeLinear's multiply, the op's own float step, the QuantizeLinear kernel), so the same
// bytes; two steps and two arena buffers fewer. A DequantizeLinear whose every reader was
// folded goes.
void FoldDequantizeOpQuantize(Graph& g) {
  auto uses = CountUses(g);
  std::vector<int> reader(g.values.size(), -1);  // the reading node of a value read once
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (g.nodes[i].dead) continue;
    for (int v : g.nodes[i].in) reader[v] = static_cast<int>(i);
  }
  std::vector<int> dequantizes;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& op = g.nodes[i];
    if (op.dead || !IsFoldableFloatOp(op) || op.out.size() != 1) continue;
    const int y = op.out[0];
    if (uses[y] != 1 || reader[y] < 0 || g.values[y].dtype != DType::kF32) continue;
    // A Relu or Clip between an element-wise binary op and the QuantizeLinear joins the op as
    // its clamp (Relu is Clip(0, inf) bit for bit: std::max(x, 0), then a min with infinity
    // that changes nothing, NaN and -0 included).
    Node* clamp = &g.nodes[reader[y]];
    const bool binary = op.kind == OpKind::kAdd || op.kind == OpKind::kSub || op.kind == OpKind::kMul ||
                        op.kind == OpKind::kDiv || op.kind == OpKind::kMax || op.kind == OpKind::kMin;
    if (binary && clamp->kind == OpKind::kUnary &&
        (clamp->unary == UnaryKind::kRelu || clamp->unary == UnaryKind::kClip) && clamp->in[0] == y) {
      const int z = clamp->out[0];
      if (uses[z] != 1 || reader[z] < 0 || g.values[z].dtype != DType::kF32) continue;
    } else {
      clamp = nullptr;
    }
    const int quantized = clamp != nullptr ? clamp->out[0] : y;
    Node& q = g.nodes[reader[quantized]];
    if (q.kind != OpKind::kQuantize || q.in[0] != quantized) continue;
    bool float_inputs = true;
    for (int v : op.in) float_inputs = float_inputs && g.values[v].dtype == DType::kF32;
    if (!float_inputs) continue;
    for (int& v : op.in) {
      const int p = g.values[v].producer;
      if (p < 0 || g.nodes[p].kind != OpKind::kDequantize || g.nodes[p].dead) continue;
      const Node& dq = g.nodes[p];
      const Value& x = g.values[dq.in[0]];
      if (x.is_const || x.dtype != DType::kI8 || !(x.q == dq.quant)) continue;
      --uses[v];
      v = dq.in[0];
      dequantizes.push_back(p);
    }
    if (clamp != nullptr) {
      const bool relu = clamp->unary == UnaryKind::kRelu;
      op.act_min = relu ? 0.0f : clamp->act_min;
      op.act_max = relu ? std::numeric_limits<float>::infinity() : clamp->act_max;
      clamp->dead = true;
    }
    op.inner = op.kind;
    op.kind = OpKind::kQFloatOp;
    op.out = q.out;
    g.values[q.out[0]].producer = static_cast<int>(i);
    q.dead = true;
  }
  for (int p : dequantizes) {
    if (uses[g.nodes[p].out[0]] == 0) g.nodes[p].dead = true;
  }
}

// An int8 Gemm/MatMul (constant weights) whose output only a one-pass float Add of a constant
// per column reads (a Linear layer's bias after the quantizer's QDQ pair: DQ -> Add -> Q):
// the Add joins the Gemm's step as its epilogue (Node::epilogue), where a kernel that can
// applies it per vector before storing (QGemmColumnAdd), the others after the GEMM; the same
// operations as the Add's step, so the same bytes, one pass and a buffer fewer.
void FoldBiasAddIntoQGemm(Graph& g) {
  auto uses = CountUses(g);
  for (Node& add : g.nodes) {
    if (add.dead || add.kind != OpKind::kQFloatOp || add.inner != OpKind::kAdd || add.in.size() != 2 ||
        add.out.size() != 1 || g.values[add.out[0]].dtype != DType::kI8) {
      continue;
    }
    for (size_t k = 0; k < 2; ++k) {
      const int x = add.in[k], c = add.in[1 - k];
      const Value& xv = g.values[x];
      const Value& cv = g.values[c];
      const int p = xv.producer;
      if (p < 0 || uses[x] != 1 || xv.alias_of >= 0 || xv.dtype != DType::kI8 || xv.is_const) continue;
      Node& gemm = g.nodes[p];
      if (gemm.dead || gemm.kind != OpKind::kQGemm || !gemm.epilogue.empty()) continue;
      const int64_t n = g.values[gemm.in[1]].shape[0];
      // the constant: one value per column, broadcast over the rows (dimensions of 1 before the last)
      bool per_column = cv.is_const && cv.alias_of < 0 && cv.dtype == DType::kF32 &&
                        static_cast<int64_t>(cv.cf.size()) == n &&
                        !cv.shape.empty() && cv.shape.back() == n && cv.shape.size() <= xv.shape.size() &&
                        xv.shape == g.values[add.out[0]].shape && !xv.shape.empty() && xv.shape.back() == n;
      for (size_t d = 0; per_column && d + 1 < cv.shape.size(); ++d) per_column = cv.shape[d] == 1;
      if (!per_column) continue;
      Node fused = add;
      fused.in = {x, c};  // float addition commutes: the operands' order changes no bit
      gemm.epilogue.push_back(std::move(fused));
      gemm.out = add.out;
      g.values[add.out[0]].producer = p;
      add.dead = true;
      break;
    }
  }
}

}  // namespace

// An int8 lookup whose input is another lookup's output, read by nothing else: it joins that
// lookup's chain (Node::epilogue), and the chain's step applies one table, the composition of
// theirs: the same bytes, one pass instead of several (GELU as QDQ Div, Erf and Add; a
// HardSwish written as Add, Clip and Div). Lookups as LookupInputOf finds them, but not a
// table per channel. After the other folds, so a lookup a conv took into its epilogue stays
// there.
void FoldLookupChains(Graph& g) {
  auto uses = CountUses(g);
  const auto lookup_input = [&](const Node& n) { return n.channel_alpha.empty() ? LookupInputOf(n, g) : -1; };
  for (Node& op : g.nodes) {
    const int k = lookup_input(op);
    if (k < 0) continue;
    const int x = op.in[static_cast<size_t>(k)];
    const int p = g.values[x].producer;
    if (p < 0 || uses[x] != 1 || g.values[x].alias_of >= 0 || lookup_input(g.nodes[p]) < 0) continue;
    Node& head = g.nodes[p];
    head.epilogue.push_back(op);
    head.out = op.out;
    g.values[op.out[0]].producer = p;
    op.dead = true;
  }
}

void FoldGraph(Graph& graph) {
  FoldPadIntoConv(graph);
  FoldActivationIntoFloatOps(graph);
  FoldSelfGate(graph);
  FoldElementwiseIntoQConv(graph);
  FoldConcatRequantIntoQConv(graph);
  FoldDequantizeOpQuantize(graph);
  FoldBiasAddIntoQGemm(graph);
  FoldLookupChains(graph);
  FoldSelfGate(graph);
  FoldLookupChains(graph);
}

}  // namespace edge::engine
