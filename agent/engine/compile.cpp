#include <algorithm>

#include "agent/engine/compile.h"

namespace edge::engine {

namespace {
// Constants get the arena's 64 bytes of readable slack after them (model.cpp): kernels' vector
// loads may read, never use, a few bytes past a tensor, whichever storage it lives in.
constexpr size_t kConstSlackBytes = 64;
}  // namespace

Ref BuildContext::RefOf(int value) {
  const Value& v = graph.values[graph.StorageOf(value)];
  Ref r;
  if (!v.is_const) {
    r.offset = offsets[value];
    return r;
  }
  if (v.dtype == DType::kF32) {
    pool.floats.push_back(v.cf);
    pool.floats.back().resize(v.cf.size() + kConstSlackBytes / sizeof(float), 0.0f);
    pool.total_bytes += static_cast<int64_t>(v.cf.size() * sizeof(float));
    r.constant = pool.floats.back().data();
  } else if (!v.cint.empty()) {
    // An exact integer constant, stored in its own type (new[] aligns for int64).
    const int64_t width = DTypeBytes(v.dtype);
    std::vector<int8_t> bytes(v.cint.size() * static_cast<size_t>(width) + kConstSlackBytes);
    for (size_t k = 0; k < v.cint.size(); ++k) StoreInteger(v.dtype, v.cint[k], bytes.data() + k * width);
    pool.total_bytes += static_cast<int64_t>(bytes.size() - kConstSlackBytes);
    pool.bytes.push_back(std::move(bytes));
    r.constant = pool.bytes.back().data();
  } else {
    std::vector<int8_t> bytes(v.ci.size() + kConstSlackBytes);
    for (size_t k = 0; k < v.ci.size(); ++k) bytes[k] = static_cast<int8_t>(v.ci[k]);
    pool.total_bytes += static_cast<int64_t>(v.ci.size());
    pool.bytes.push_back(std::move(bytes));
    r.constant = pool.bytes.back().data();
  }
  return r;
}

namespace {

bool IsQuantKind(OpKind k) {
  switch (k) {
    case OpKind::kQConv: case OpKind::kQGemm: case OpKind::kQAdd: case OpKind::kQMul:
    case OpKind::kQLut: case OpKind::kQMaxPool: case OpKind::kQAvgPool:
    case OpKind::kQGlobalAvgPool: case OpKind::kQReduceMean: case OpKind::kQConcat:
    case OpKind::kRequant: case OpKind::kQuantize: case OpKind::kQMatMul:
      return true;
    default:
      return false;
  }
}

TensorInfo InfoOf(const Value& v, DType dtype) {
  TensorInfo t;
  t.name = v.name;
  t.shape = v.shape;
  t.elements = v.elements;
  t.dtype = dtype;
  return t;
}

// Add/Sub/Mul/Div/Max/Min on exact integer tensors, and the typed nodes.
bool IsTypedNode(const Node& n, const Graph& g) {
  switch (n.kind) {
    case OpKind::kCast: case OpKind::kQuantizeTyped: case OpKind::kDequantizeTyped:
      return true;
    case OpKind::kAdd: case OpKind::kSub: case OpKind::kMul: case OpKind::kDiv: case OpKind::kMax:
    case OpKind::kMin:
      return g.values[n.out[0]].dtype != DType::kF32;
    default:
      return false;
  }
}

// Multiply-adds (or element visits) one run of the plan costs, in double so that a hostile
// shape cannot overflow the count: a conv or a matrix product costs its outputs times the
// products per output, a pool its outputs times its window, anything else what it reads or
// writes.
double EstimateWork(const Graph& g) {
  double work = 0.0;
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    const double out = static_cast<double>(g.values[n.out[0]].elements);
    double per_output = 1.0;
    switch (n.kind) {
      case OpKind::kConv: case OpKind::kQConv: {
        const Value& w = g.values[n.in[1]];
        per_output = static_cast<double>(w.elements) / static_cast<double>(std::max<int64_t>(1, w.shape[0]));
        break;
      }
      case OpKind::kConvTranspose: {  // every input element times C_out / group x kernel
        const Value& w = g.values[n.in[1]];
        per_output = static_cast<double>(g.values[n.in[0]].elements) * static_cast<double>(w.elements) /
                     std::max(1.0, static_cast<double>(w.shape[0])) / std::max(1.0, out);
        break;
      }
      case OpKind::kGemm: case OpKind::kMatMul: case OpKind::kQGemm: case OpKind::kQMatMul: {
        const Value& a = g.values[n.in[0]];
        per_output = static_cast<double>(n.trans_a && a.shape.size() == 2 ? a.shape[0] : a.shape.back());
        break;
      }
      case OpKind::kMaxPool: case OpKind::kQMaxPool: case OpKind::kAvgPool: case OpKind::kQAvgPool:
        per_output = static_cast<double>(n.kernel[0]) * static_cast<double>(n.kernel[1]) *
                     static_cast<double>(n.depth_kernel);
        break;
      case OpKind::kRecurrent: {  // per output row, the gates' products with x and h
        const RecurrentSpec& r = *n.recurrent;
        per_output = static_cast<double>(r.Gates()) * static_cast<double>(r.input + r.hidden);
        break;
      }
      default: break;
    }
    double read = 0.0;
    for (int in : n.in) read += static_cast<double>(g.values[in].elements);
    // a Gather with run-time indices reads the rows it writes, not its whole table
    if (n.kind == OpKind::kGatherRows) read = static_cast<double>(g.values[n.in[1]].elements);
    work += std::max(out * per_output, read);
  }
  return work;
}

// Graph inputs whose one reader is a QuantizeLinear (the first step of a QDQ model): that step
// reads the caller's buffer in place instead of a copy in the arena (the quantize kernels read
// exactly `count` floats, never past them). Not with keep_all_tensors, whose readers expect
// every tensor in the arena, nor for an input that is also an output or is aliased.
std::vector<int> InPlaceInputs(const Graph& g, const LoadOptions& options) {
  std::vector<int> in_place(g.values.size(), -1);
  if (options.keep_all_tensors) return in_place;
  std::vector<int> readers(g.values.size(), 0), quantizers(g.values.size(), 0);
  for (const Node& n : g.nodes) {
    if (n.dead) continue;
    for (int v : n.in) ++readers[v];
    if (n.kind == OpKind::kQuantize) ++quantizers[n.in[0]];
  }
  for (int v : g.outputs) readers[v] += 2;
  for (const Value& value : g.values) {
    if (value.alias_of >= 0) readers[value.alias_of] += 2;
  }
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const int v = g.inputs[i];
    if (readers[v] == 1 && quantizers[v] == 1 && g.values[v].dtype == DType::kF32) in_place[v] = static_cast<int>(i);
  }
  return in_place;
}

}  // namespace

Result<std::unique_ptr<CompiledGraph>> Compile(Graph g, const LoadOptions& options) {
  auto cg = std::make_unique<CompiledGraph>();
  if (const double work = EstimateWork(g); work > static_cast<double>(options.max_work)) {
    return Fail(ErrorCode::kResourceExhausted,
                "one run needs about " + std::to_string(static_cast<long long>(std::min(work, 9.2e18))) +
                    " multiply-adds, above the limit of " + std::to_string(options.max_work) +
                    " (LoadOptions::max_work)");
  }
  if (!options.keep_all_tensors) PlaceConcatInputs(g);  // keep_all: every tensor its own bytes
  std::vector<int64_t> scratch(g.nodes.size(), 0);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    if (!g.nodes[i].dead) scratch[i] = ScratchBytes(g.nodes[i], g);
  }
  ArenaPlan plan = PlanArena(g, scratch, options.keep_all_tensors);
  if (plan.total_bytes > options.max_arena_bytes) {
    return Fail(ErrorCode::kResourceExhausted,
                "model needs an arena of " + std::to_string(plan.total_bytes) +
                    " bytes, above the limit of " + std::to_string(options.max_arena_bytes));
  }
  cg->arena_bytes = plan.total_bytes;
  const std::vector<int> in_place = InPlaceInputs(g, options);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.dead) continue;
    BuildContext ctx{g, plan.offsets, cg->pool, plan.scratch_offsets[i], &in_place};
    Result<std::unique_ptr<Step>> step = Fail(ErrorCode::kInternal, "no builder");
    switch (n.kind) {
      case OpKind::kConv:
      case OpKind::kConvTranspose: step = BuildFloatConvStep(n, ctx); break;
      case OpKind::kQConv:
      case OpKind::kQGemm: step = BuildQuantMatrixStep(n, ctx); break;
      case OpKind::kQMatMul: step = BuildQuantMatMulStep(n, ctx); break;
      case OpKind::kRecurrent: step = BuildRecurrentStep(n, ctx); break;
      case OpKind::kTranspose:
      case OpKind::kSlice:
      case OpKind::kResize:
      case OpKind::kGatherRows:
      case OpKind::kResizeLinear:
      case OpKind::kConcat:
      case OpKind::kPad:
      case OpKind::kMaxPool:
      case OpKind::kQMaxPool: step = BuildLayoutStep(n, ctx); break;
      default:
        step = IsTypedNode(n, g)                                    ? BuildTypedStep(n, ctx)
               : IsQuantKind(n.kind) && n.kind != OpKind::kQuantize ? BuildQuantStep(n, ctx)
                                                                    : BuildFloatStep(n, ctx);
        break;
    }
    if (!step) return Fail(step.error().Wrap("node '" + n.name + "' (" + n.onnx_op + ")"));
    cg->quantized = cg->quantized || IsQuantKind(n.kind) || n.kind == OpKind::kQFloatOp;
    (*step)->node = n.name;
    (*step)->computes_float = !IsQuantKind(n.kind) && n.kind != OpKind::kQFloatOp && n.kind != OpKind::kDequantize &&
                              std::any_of(n.out.begin(), n.out.end(), [&](int v) { return g.values[v].dtype == DType::kF32; });
    cg->steps.push_back(std::move(*step));
  }
  for (size_t i = 0; i < g.inputs.size(); ++i) {
    const int v = g.inputs[i];
    cg->inputs.push_back(InfoOf(g.values[v], g.input_types[i]));
    cg->input_offsets.push_back(in_place[v] >= 0 ? -1 : plan.offsets[v]);
  }
  for (size_t i = 0; i < g.outputs.size(); ++i) {
    const int v = g.outputs[i];
    TensorInfo info = InfoOf(g.values[v], g.output_types[i]);
    const Value& storage = g.values[g.StorageOf(v)];
    if (storage.is_const) {
      cg->outputs.push_back(std::move(info));
      cg->output_offsets.push_back(-1);
      cg->output_consts.push_back(storage.cf);
      continue;
    }
    const int producer = g.values[g.StorageOf(v)].producer;
    if (producer >= 0 && g.nodes[producer].kind == OpKind::kDequantize) {
      info.quant_step = g.nodes[producer].quant.scale;
    }
    cg->outputs.push_back(std::move(info));
    cg->output_offsets.push_back(plan.offsets[v]);
    cg->output_consts.emplace_back();
  }
  for (const auto& [name, v] : g.float_tensors) {
    if (plan.offsets[v] >= 0) cg->float_tensors[name] = {plan.offsets[v], g.values[v].elements};
  }
  return cg;
}

}  // namespace edge::engine
