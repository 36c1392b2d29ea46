// Rewrites an fp32 ONNX graph into QDQ form: QuantizeLinear -> DequantizeLinear pairs on the
// activations around every quantizable node, int8 per-channel weights and int32 biases behind
// DequantizeLinear; a MatMul of two activations gets QDQ on both. Relu/Clip right after
// Conv/Gemm/MatMul/Add share that node's output
// quantization (they become the requantization clamp in the engine). Data-movement ops keep
// their input's parameters so that quantization commutes with them.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <cstring>

#include "agent/engine/quantizer/qdq_rewriter.h"

#include "agent/engine/lower.h"

#include "agent/engine/quantizer/quantizer.h"
#include "edge_onnx/onnx.pb.h"

namespace edge::engine {
namespace {


const std::set<std::string> kWeightOps = {"Conv", "ConvTranspose", "Gemm", "MatMul"};
// What the engine runs between QDQ pairs, from its operator table (lower.cpp, QdqForm): ops
// with an int8 form (kernels, lookups, and one-step int8 -> float -> int8 forms such as
// Softmax, Div or ReduceMax) and ops that keep their input's parameters (data movement).
// Resize and Upsample move codes only in nearest mode: WhyOpFloat keeps linear ones float;
// Gather and Expand move their first input, data, and read indices or a shape. A Gather of a
// float table by run-time indices (an embedding) reads its parameters from the table: see
// TableGather.
std::set<std::string> OpsWithQdqForm(QdqForm form) {
  std::set<std::string> ops;
  for (const OperatorSupport& op : SupportedOperators()) {
    if (op.qdq == form) ops.insert(op.op);
  }
  return ops;
}
const std::set<std::string> kComputeOps = OpsWithQdqForm(QdqForm::kInt8);
const std::set<std::string> kMovementOps = OpsWithQdqForm(QdqForm::kSameCodes);

// The outputs of a quantized node that get parameters: Split's every one, other ops' first (a
// MaxPool's Indices are integers).
int QuantizedOutputs(const onnx::NodeProto& n) { return n.op_type() == "Split" ? n.output_size() : 1; }

struct QParamsF {
  float scale = 1.0f;
  int32_t zero_point = 0;
};

std::string Short(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

QParamsF ActivationParams(TensorRange r) {
  const float lo = std::min(0.0f, r.lo), hi = std::max(0.0f, r.hi);
  QParamsF q;
  q.scale = (hi - lo) / 255.0f;
  if (!(q.scale > 0.0f) || !std::isfinite(q.scale)) {
    q.scale = 1.0f;
    q.zero_point = 0;
    return q;
  }
  q.zero_point = static_cast<int32_t>(std::clamp(std::nearbyint(-128.0 - double(lo) / q.scale), -128.0, 127.0));
  return q;
}

const onnx::TensorProto* FindInit(const onnx::GraphProto& g, const std::string& name) {
  for (const auto& t : g.initializer()) {
    if (t.name() == name) return &t;
  }
  return nullptr;
}


int64_t AttrInt(const onnx::NodeProto& n, const std::string& name, int64_t fallback) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return a.i();
  }
  return fallback;
}
float AttrFloat(const onnx::NodeProto& n, const std::string& name, float fallback) {
  for (const auto& a : n.attribute()) {
    if (a.name() == name) return a.f();
  }
  return fallback;
}

void RemoveAttribute(onnx::NodeProto& n, const std::string& name) {
  auto* attrs = n.mutable_attribute();
  for (int i = 0; i < attrs->size(); ++i) {
    if (attrs->Get(i).name() == name) {
      attrs->DeleteSubrange(i, 1);
      return;
    }
  }
}

class QdqRewriter {
 public:
  QdqRewriter(onnx::ModelProto& model, const std::map<std::string, TensorRange>& ranges,
              const QuantizeOptions& options)
      : g_(*model.mutable_graph()), ranges_(ranges), options_(options) {}

  Result<QuantizeReport> Run() {
    for (const auto& t : g_.initializer()) inits_.insert(t.name());
    for (int i = 0; i < g_.node_size(); ++i) {
      for (const auto& in : g_.node(i).input()) consumers_[in].push_back(i);
      for (const auto& out : g_.node(i).output()) producer_[out] = i;
    }
    for (const auto& o : g_.output()) graph_outputs_.insert(o.name());
    for (const std::string& keep : options_.keep_float) {
      const bool names = std::any_of(g_.node().begin(), g_.node().end(), [&](const onnx::NodeProto& n) {
        return n.name() == keep || n.op_type() == keep;
      });
      if (!names) {
        return Fail(ErrorCode::kInvalidArgument,
                    "--keep-float '" + keep + "' names no node and no op type of the model");
      }
    }
    SelectNodes();
    QuantizeReport report;
    bool computes = false;
    // The names the engine gives the nodes (an unnamed node: its first output), by count: the
    // report finds an int8 node's steps by its name, so that name must be the node's alone.
    std::map<std::string, int> engine_names;
    for (const auto& n : g_.node()) ++engine_names[n.name().empty() && n.output_size() > 0 ? n.output(0) : n.name()];
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& n = g_.node(i);
      if (selected_.count(i) != 0) {
        // an unnamed node gets the name the engine gives it in the fp32 model (its first
        // output, which the rewrite may rename), so that the report can find its steps; a name
        // another node has too (an unnamed node's output named like another node) gets a suffix
        std::string name = n.name().empty() && n.output_size() > 0 ? n.output(0) : n.name();
        if (engine_names[name] > 1) {
          --engine_names[name];
          const std::string base = name;
          for (int k = 1; engine_names.count(name) != 0 || producer_.count(name) != 0; ++k) {
            name = base + "_" + std::to_string(k);
          }
          ++engine_names[name];
        }
        if (name != n.name()) g_.mutable_node(i)->set_name(name);
        report.int8_nodes.push_back(Int8Node{n.name(), n.op_type()});
        computes = computes || kMovementOps.count(n.op_type()) == 0;
      } else if (n.output_size() > 0 && !IsActivation(n.output(0)) && graph_outputs_.count(n.output(0)) == 0) {
        // shape arithmetic and constants: folded at load, no run-time step to report
      } else {
        const std::string name = !n.name().empty() || n.output_size() == 0 ? n.name() : "(unnamed) -> " + n.output(0);
        report.float_nodes.push_back(FloatNode{name, n.op_type(), WhyFloat(n)});
      }
    }
    // Data movement alone in int8 is not a quantized model: refuse rather than "succeed".
    if (!computes) {
      std::string first = report.float_nodes.empty()
                              ? std::string("the graph has no nodes")
                              : "the first, '" + report.float_nodes[0].name + "' (" + report.float_nodes[0].op_type +
                                    "): " + report.float_nodes[0].reason;
      return Fail(ErrorCode::kFailedPrecondition,
                  "nothing to quantize: none of the graph's " + std::to_string(g_.node_size()) +
                      " node(s) can run in int8; " + first);
    }
    EDGE_TRY(AssignParams());
    EDGE_TRY(QuantizeWeights());
    EDGE_TRY(QuantizeTables());
    InsertActivationQdq();
    report.saturated_biases = std::move(saturated_biases_);
    return report;
  }

 private:
  // A float tensor the engine computes at run time (a graph input included): calibration saw
  // it. Not an initializer, nor what the engine folds to a constant at load (shape arithmetic
  // such as torch.chunk's Shape -> Gather -> Div feeding a Slice, a Transpose of a weight), nor
  // an integer tensor.
  bool IsActivation(const std::string& name) const { return !name.empty() && ranges_.count(name) != 0; }

  bool IsActivationMatMul(const onnx::NodeProto& n) const {
    return n.op_type() == "MatMul" && n.input_size() == 2 && IsActivation(n.input(1));
  }

  bool SingleConsumer(const std::string& name, int& consumer) const {
    if (graph_outputs_.count(name) != 0) return false;
    auto it = consumers_.find(name);
    if (it == consumers_.end() || it->second.size() != 1) return false;
    consumer = it->second[0];
    return true;
  }

  bool Quantizable(const onnx::NodeProto& n) const { return WhyFloat(n).empty(); }

  // A Gather whose data is a float initializer and whose output is an activation: its indices
  // are computed (nn.Embedding's table and ids; constant indices fold at load). A run may look
  // up any row, not only those calibration saw, so its output takes the table's own range (the
  // output's values are the table's), and the table becomes int8 codes in those parameters
  // behind a DequantizeLinear, per tensor: the engine gathers the codes, and the output's
  // QuantizeLinear, of the same parameters, is no step. The table, or null.
  const onnx::TensorProto* TableGather(const onnx::NodeProto& n) const {
    if (n.op_type() != "Gather" || n.input_size() != 2 || !IsActivation(n.output(0))) return nullptr;
    const onnx::TensorProto* t = FindInit(g_, n.input(0));
    return t != nullptr && t->data_type() == onnx::TensorProto::FLOAT ? t : nullptr;
  }

  // Empty when `n` can run in int8; otherwise why it stays float, for the report. The op's own
  // reason comes first: a Softmax that writes the graph output has no int8 form either way.
  std::string WhyFloat(const onnx::NodeProto& n) const {
    if (std::string own = WhyOpFloat(n); !own.empty()) return own;
    for (const std::string& keep : options_.keep_float) {
      if (n.name() == keep || n.op_type() == keep) return "kept float by --keep-float " + keep;
    }
    if (!options_.quantize_outputs) {
      for (const auto& out : n.output()) {
        if (graph_outputs_.count(out) != 0) {
          return "writes graph output '" + out + "', kept float so it is not clipped to the calibration range "
                 "(--quantize-outputs changes this)";
        }
      }
    }
    return "";
  }

  // Why the op itself, wherever it sits in the graph, cannot run in int8; empty when it can.
  std::string WhyOpFloat(const onnx::NodeProto& n) const {
    const std::string& op = n.op_type();
    if (!IsActivation(n.output(0))) return "computes integers or constants (folded at load), not a float activation";
    // MatMul of two activations (attention): both operands quantized, an int8 x int8 product.
    if (op == "MatMul" && n.input_size() == 2 && IsActivation(n.input(0)) && IsActivation(n.input(1))) return "";
    if (kWeightOps.count(op) != 0) {
      if (n.input_size() < 2 || inits_.count(n.input(1)) == 0) {
        return "its weight '" + (n.input_size() < 2 ? std::string() : n.input(1)) + "' is computed, not a constant";
      }
      if (op == "Gemm" && AttrInt(n, "transA", 0) != 0) return "Gemm with transA=1 (the int8 Gemm takes A as stored)";
      const onnx::TensorProto* w = FindInit(g_, n.input(1));
      if (w == nullptr || w->data_type() != onnx::TensorProto::FLOAT) return "its weight is not float32";
      if (op == "MatMul" && w->dims_size() != 2) return "MatMul with a weight of rank " + std::to_string(w->dims_size()) + ", not 2";
      if (op == "ConvTranspose") {
        if (w->dims_size() != 3 && w->dims_size() != 4) return "a ConvTranspose of rank " + std::to_string(w->dims_size()) + " weights: the engine's int8 ConvTranspose is 1-D or 2-D";
        for (const auto& a : n.attribute()) {
          if (a.name() != "dilations") continue;
          for (int64_t d : a.ints()) {
            if (d != 1) return "a dilated ConvTranspose: the engine's int8 ConvTranspose is undilated";
          }
        }
      }
      if (op == "Gemm" && n.input_size() > 2 && !n.input(2).empty()) {
        const onnx::TensorProto* c = FindInit(g_, n.input(2));
        if (c == nullptr || c->dims_size() != 1) return "Gemm whose C is not a constant 1-D bias";
      }
      return "";
    }
    if (op == "Clip") {
      for (int k = 1; k < n.input_size(); ++k) {
        if (!n.input(k).empty() && inits_.count(n.input(k)) == 0) return "Clip with computed bounds";
      }
    }
    if (op == "Pad" && n.input_size() > 2 && !n.input(2).empty()) {
      // a constant 0 (ZeroPad2d's export) is the zero point exactly; another value may fall between codes
      const onnx::TensorProto* v = FindInit(g_, n.input(2));
      const auto values = v != nullptr ? FloatsOf(*v) : Result<std::vector<float>>(Fail(ErrorCode::kNotFound, ""));
      if (!values || values->size() != 1 || (*values)[0] != 0.0f) return "Pad with a pad value other than a constant 0";
    }
    if (op == "PRelu") {
      // One slope for every element is a 256-entry lookup, a slope per channel one per channel
      // (the engine checks that the axis is x's channels; another one runs as float steps).
      const onnx::TensorProto* slope = n.input_size() == 2 ? FindInit(g_, n.input(1)) : nullptr;
      if (slope == nullptr || slope->data_type() != onnx::TensorProto::FLOAT) return "PRelu with a computed or non-float slope";
      if (std::count_if(slope->dims().begin(), slope->dims().end(), [](int64_t d) { return d > 1; }) > 1) {
        return "PRelu with slopes that vary along more than one axis: the engine's int8 PRelu takes one slope per channel";
      }
    }
    if (op == "BatchNormalization") {
      // the int8 form is a lookup per channel of constant parameters; computed ones are float steps
      for (int k = 1; k < n.input_size(); ++k) {
        if (inits_.count(n.input(k)) == 0) return "BatchNormalization with computed parameters";
      }
    }
    if (op == "Resize" || op == "Upsample") {
      for (const auto& a : n.attribute()) {
        if (a.name() == "mode" && a.s() != "nearest") return op + " in " + a.s() + " mode: the engine's int8 " + op + " is nearest-neighbour";
      }
    }
    if (kComputeOps.count(op) != 0 || kMovementOps.count(op) != 0) return "";
    return "no int8 form of " + op + " in the engine";
  }

  void SelectNodes() {
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& n = g_.node(i);
      if (!Quantizable(n) || fused_.count(i) != 0) continue;
      selected_.insert(i);
      // Relu/Clip right after a matrix op or Add: quantize after the activation only.
      int c = 0;
      if ((kWeightOps.count(n.op_type()) != 0 || n.op_type() == "Add") && SingleConsumer(n.output(0), c) &&
          (g_.node(c).op_type() == "Relu" || g_.node(c).op_type() == "Clip") && Quantizable(g_.node(c))) {
        fused_.insert(c);
        selected_.insert(c);
        skip_tensor_.insert(n.output(0));
      }
    }
    for (int i : selected_) {
      const auto& n = g_.node(i);
      // every activation an int8 op reads is quantized (both operands of a Div or Max, a
      // computed Pow exponent); a weight op's and a movement op's data is their first input
      const int data_inputs = IsActivationMatMul(n)                                             ? 2
                              : kWeightOps.count(n.op_type()) != 0 || kMovementOps.count(n.op_type()) != 0 ? 1
                                                                                                   : n.input_size();
      for (int k = 0; k < data_inputs; ++k) {
        if (IsActivation(n.input(k)) && skip_tensor_.count(n.input(k)) == 0) tensors_.insert(n.input(k));
      }
      for (int k = 0; k < QuantizedOutputs(n); ++k) {
        if (!n.output(k).empty() && skip_tensor_.count(n.output(k)) == 0) tensors_.insert(n.output(k));
      }
    }
  }

  // A range that is not zero but below kMinQuantizableMagnitude would give a denormal (or zero)
  // int8 scale, and the int32 bias scale (input scale x weight scale) would underflow to zero.
  Status AssignParams() {
    for (const auto& t : tensors_) {
      auto it = ranges_.find(t);
      const TensorRange r = it != ranges_.end() ? it->second : TensorRange{};
      const float peak = std::max(std::fabs(r.lo), std::fabs(r.hi));
      if (peak > 0.0f && peak < kMinQuantizableMagnitude) {
        return Fail(ErrorCode::kInvalidArgument,
                    "tensor '" + t + "' has a calibrated range too small to quantize: its peak |value| is " +
                        Short(double(peak)) + ", below " + Short(double(kMinQuantizableMagnitude)) +
                        ", so its int8 scale would underflow; is the calibration data in the model's units?");
      }
      params_[t] = ActivationParams(r);
    }
    // An embedding table's range is its output's (TableGather): a finite table only, not all
    // zeros, whose scale does not underflow (otherwise the calibrated range stays).
    for (int i : selected_) {
      const onnx::TensorProto* table = TableGather(g_.node(i));
      if (table == nullptr) continue;
      EDGE_ASSIGN_OR_RETURN(std::vector<float> v, FloatsOf(*table));
      if (v.empty() || !std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); })) continue;
      const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
      const float peak = std::max(std::fabs(*lo), std::fabs(*hi));
      if (peak < kMinQuantizableMagnitude) continue;
      params_[table->name()] = ActivationParams(TensorRange{*lo, *hi});
    }
    // Movement ops pass their input's parameters on (nodes are in topological order).
    for (int i = 0; i < g_.node_size(); ++i) {
      const auto& n = g_.node(i);
      if (selected_.count(i) == 0 || kMovementOps.count(n.op_type()) == 0) continue;
      if (params_.count(n.input(0)) == 0) continue;
      for (int k = 0; k < QuantizedOutputs(n); ++k) {
        if (!n.output(k).empty()) params_[n.output(k)] = params_[n.input(0)];
      }
    }
    return Ok();
  }

  std::string Unique(const std::string& base) {
    std::string name = base;
    for (int k = 1; taken_.count(name) != 0 || inits_.count(name) != 0 || producer_.count(name) != 0; ++k) {
      name = base + "_" + std::to_string(k);
    }
    taken_.insert(name);
    return name;
  }

  void AddScalarInit(const std::string& name, float scale) {
    auto* t = g_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(scale);
    inits_.insert(name);
  }
  void AddZeroPointInit(const std::string& name, int32_t zp) {
    auto* t = g_.add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT8);
    t->add_int32_data(zp);
    inits_.insert(name);
  }

  Status QuantizeWeights() {
    for (int i : selected_) {
      auto* n = g_.mutable_node(i);
      if (kWeightOps.count(n->op_type()) == 0 || IsActivationMatMul(*n)) continue;
      const onnx::TensorProto* w = FindInit(g_, n->input(1));
      // Gemm's alpha and beta go into its constant B and C, so the int8 Gemm (alpha = beta = 1)
      // computes the same function.
      const bool gemm = n->op_type() == "Gemm";
      const float alpha = gemm ? AttrFloat(*n, "alpha", 1.0f) : 1.0f;
      const float beta = gemm ? AttrFloat(*n, "beta", 1.0f) : 1.0f;
      EDGE_ASSIGN_OR_RETURN(std::vector<float> wf, FloatsOf(*w));
      for (float& v : wf) v *= alpha;
      if (gemm) RemoveAttribute(*n, "alpha");
      std::vector<int64_t> dims(w->dims().begin(), w->dims().end());
      // Output channels: Conv axis 0, Gemm transB axis 0, otherwise axis 1 (of [K, N], and
      // ConvTranspose's [C_in, C_out / group, ...]: each group's channel j shares scale j).
      const bool trans_b = n->op_type() == "Gemm" && AttrInt(*n, "transB", 0) != 0;
      const int axis = n->op_type() == "Conv" || trans_b ? 0 : 1;
      const int64_t channels = dims[axis];
      const int64_t outputs = n->op_type() == "ConvTranspose" ? channels * AttrInt(*n, "group", 1) : channels;
      int64_t inner = 1;
      for (size_t d = axis + 1; d < dims.size(); ++d) inner *= dims[d];
      std::vector<float> absmax(static_cast<size_t>(channels), 0.0f);
      for (size_t k = 0; k < wf.size(); ++k) {
        const int64_t c = (static_cast<int64_t>(k) / inner) % channels;
        absmax[c] = std::max(absmax[c], std::abs(wf[k]));
      }
      std::vector<float> scales(static_cast<size_t>(channels));
      for (int64_t c = 0; c < channels; ++c) scales[c] = absmax[c] > 0.0f ? absmax[c] / 127.0f : 1.0f;
      const std::string wname = n->input(1);
      auto* wq = g_.add_initializer();
      wq->set_name(Unique(wname + "_quantized"));
      wq->set_data_type(onnx::TensorProto::INT8);
      for (int64_t d : dims) wq->add_dims(d);
      std::string raw(wf.size(), '\0');
      for (size_t k = 0; k < wf.size(); ++k) {
        const int64_t c = (static_cast<int64_t>(k) / inner) % channels;
        raw[k] = static_cast<char>(static_cast<int8_t>(std::clamp(std::nearbyint(wf[k] / scales[c]), -127.0f, 127.0f)));
      }
      wq->set_raw_data(raw);
      const std::string ws = Unique(wname + "_scale"), wz = Unique(wname + "_zero_point");
      auto* st = g_.add_initializer();
      st->set_name(ws);
      st->set_data_type(onnx::TensorProto::FLOAT);
      st->add_dims(channels);
      for (float s : scales) st->add_float_data(s);
      auto* zt = g_.add_initializer();
      zt->set_name(wz);
      zt->set_data_type(onnx::TensorProto::INT8);
      zt->add_dims(channels);
      for (int64_t c = 0; c < channels; ++c) zt->add_int32_data(0);
      const std::string wdq = Unique(wname + "_dequantized");
      AddDq(wq->name(), ws, wz, wdq, axis);
      n->set_input(1, wdq);
      // Bias: int32 in the scale input_scale * weight_scale[c], zero point 0.
      if (n->input_size() > 2 && !n->input(2).empty()) {
        const onnx::TensorProto* b = FindInit(g_, n->input(2));
        auto xp = params_.find(n->input(0));
        if (b == nullptr || xp == params_.end()) continue;
        EDGE_ASSIGN_OR_RETURN(std::vector<float> bf, FloatsOf(*b));
        if (static_cast<int64_t>(bf.size()) != outputs) continue;
        for (float& v : bf) v *= beta;
        if (gemm) RemoveAttribute(*n, "beta");
        const std::string bname = n->input(2);
        auto* bq = g_.add_initializer();
        bq->set_name(Unique(bname + "_quantized"));
        bq->set_data_type(onnx::TensorProto::INT32);
        bq->add_dims(outputs);
        auto* bs = g_.add_initializer();
        bs->set_name(Unique(bname + "_scale"));
        bs->set_data_type(onnx::TensorProto::FLOAT);
        bs->add_dims(outputs);
        auto* bz = g_.add_initializer();
        bz->set_name(Unique(bname + "_zero_point"));
        bz->set_data_type(onnx::TensorProto::INT32);
        bz->add_dims(outputs);
        for (int64_t c = 0; c < outputs; ++c) {
          const float s = xp->second.scale * scales[c % channels];
          if (!std::isnormal(s)) {
            return Fail(ErrorCode::kInvalidArgument,
                        "bias '" + bname + "' channel " + std::to_string(c) + ": its int32 scale (input scale " +
                            Short(double(xp->second.scale)) + " x weight scale " + Short(double(scales[c % channels])) +
                            ") underflows to " + Short(double(s)) + "; the calibrated range of '" + n->input(0) +
                            "' is too small to quantize");
          }
          const double steps = std::nearbyint(double(bf[c]) / s);
          if (steps < double(INT32_MIN) || steps > double(INT32_MAX)) {
            // Clamped: the int8 node adds a different bias than the fp32 one.
            saturated_biases_.push_back("'" + bname + "' channel " + std::to_string(c) + " (" + Short(double(bf[c])) +
                                        " is " + Short(steps) + " steps of " + Short(double(s)) +
                                        ", beyond int32)");
          }
          bq->add_int32_data(static_cast<int32_t>(std::clamp(steps, double(INT32_MIN), double(INT32_MAX))));
          bs->add_float_data(s);
          bz->add_int32_data(0);
        }
        const std::string bdq = Unique(bname + "_dequantized");
        AddDq(bq->name(), bs->name(), bz->name(), bdq, 0);
        n->set_input(2, bdq);
      }
    }
    return Ok();
  }

  // Each table of a TableGather with parameters: int8 codes (round half to even, saturated)
  // behind a per-tensor DequantizeLinear, one per table however many Gathers read it; the float
  // table goes unless another node reads it.
  Status QuantizeTables() {
    std::map<std::string, std::string> dequantized;  // table -> its DequantizeLinear's output
    for (int i : selected_) {
      const onnx::TensorProto* table = TableGather(g_.node(i));
      if (table == nullptr || params_.count(table->name()) == 0) continue;
      const std::string name = table->name();
      auto it = dequantized.find(name);
      if (it == dequantized.end()) {
        const QParamsF q = params_.at(name);
        EDGE_ASSIGN_OR_RETURN(std::vector<float> v, FloatsOf(*table));
        std::string raw(v.size(), '\0');
        for (size_t k = 0; k < v.size(); ++k) {
          const double code = std::nearbyint(double(v[k]) / q.scale) + q.zero_point;
          raw[k] = static_cast<char>(static_cast<int8_t>(std::clamp(code, -128.0, 127.0)));
        }
        const std::vector<int64_t> dims(table->dims().begin(), table->dims().end());
        auto* codes = g_.add_initializer();
        codes->set_name(Unique(name + "_quantized"));
        codes->set_data_type(onnx::TensorProto::INT8);
        for (int64_t d : dims) codes->add_dims(d);
        codes->set_raw_data(raw);
        const std::string s = Unique(name + "_scale"), z = Unique(name + "_zero_point");
        AddScalarInit(s, q.scale);
        AddZeroPointInit(z, q.zero_point);
        const std::string dq = Unique(name + "_dequantized");
        AddDq(codes->name(), s, z, dq, -1);
        it = dequantized.emplace(name, dq).first;
      }
      g_.mutable_node(i)->set_input(0, it->second);
    }
    return Ok();
  }

  void AddDq(const std::string& in, const std::string& scale, const std::string& zp,
             const std::string& out, int axis) {
    onnx::NodeProto dq;
    dq.set_op_type("DequantizeLinear");
    dq.set_name(out);
    dq.add_input(in);
    dq.add_input(scale);
    dq.add_input(zp);
    dq.add_output(out);
    if (axis >= 0) {
      auto* a = dq.add_attribute();
      a->set_name("axis");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(axis);
    }
    weight_dq_.push_back(std::move(dq));
  }

  // Each quantized tensor T: its producer now writes T_float, followed by
  // Q(T_float) -> T_quantized and DQ -> T, so every reader (and graph output) keeps the name.
  void InsertActivationQdq() {
    std::vector<onnx::NodeProto> before_all;  // for graph inputs
    std::map<int, std::vector<onnx::NodeProto>> after;
    for (const auto& t : tensors_) {
      auto pit = params_.find(t);
      if (pit == params_.end()) continue;
      const QParamsF q = pit->second;
      const std::string s = Unique(t + "_scale"), z = Unique(t + "_zero_point");
      AddScalarInit(s, q.scale);
      AddZeroPointInit(z, q.zero_point);
      const std::string qname = Unique(t + "_quantized");
      std::string float_name;
      auto prod = producer_.find(t);
      if (prod != producer_.end()) {
        float_name = Unique(t + "_float");
        auto* p = g_.mutable_node(prod->second);
        for (int k = 0; k < p->output_size(); ++k) {
          if (p->output(k) == t) p->set_output(k, float_name);
        }
      } else {
        // A graph input keeps its name; its readers move to the dequantized copy.
        float_name = t;
      }
      onnx::NodeProto qn;
      qn.set_op_type("QuantizeLinear");
      qn.set_name(qname);
      qn.add_input(float_name);
      qn.add_input(s);
      qn.add_input(z);
      qn.add_output(qname);
      onnx::NodeProto dq;
      dq.set_op_type("DequantizeLinear");
      dq.set_name(qname + "_dq");
      dq.add_input(qname);
      dq.add_input(s);
      dq.add_input(z);
      if (prod != producer_.end()) {
        dq.add_output(t);
        after[prod->second].push_back(std::move(qn));
        after[prod->second].push_back(std::move(dq));
      } else {
        const std::string dq_name = Unique(t + "_dequantized");
        dq.add_output(dq_name);
        for (int c : consumers_[t]) {
          auto* n = g_.mutable_node(c);
          for (int k = 0; k < n->input_size(); ++k) {
            if (n->input(k) == t) n->set_input(k, dq_name);
          }
        }
        before_all.push_back(std::move(qn));
        before_all.push_back(std::move(dq));
      }
    }
    // Rebuild the node list: weight DQs and input QDQs first, then each node and its QDQ.
    google::protobuf::RepeatedPtrField<onnx::NodeProto> nodes;
    nodes.Swap(g_.mutable_node());
    for (auto& n : weight_dq_) *g_.add_node() = std::move(n);
    for (auto& n : before_all) *g_.add_node() = std::move(n);
    for (int i = 0; i < nodes.size(); ++i) {
      *g_.add_node() = nodes.Get(i);
      for (auto& n : after[i]) {
        *g_.add_node() = std::move(n);
      }
    }
    RemoveUnusedInitializers();
  }

  // The fp32 weights replaced by their int8 versions would otherwise stay in the file.
  void RemoveUnusedInitializers() {
    std::set<std::string> used;
    for (const auto& n : g_.node()) used.insert(n.input().begin(), n.input().end());
    for (const auto& o : g_.output()) used.insert(o.name());
    google::protobuf::RepeatedPtrField<onnx::TensorProto> kept;
    for (const auto& t : g_.initializer()) {
      if (used.count(t.name()) != 0) *kept.Add() = t;
    }
    g_.mutable_initializer()->Swap(&kept);
    google::protobuf::RepeatedPtrField<onnx::ValueInfoProto> inputs;
    for (const auto& in : g_.input()) {
      if (used.count(in.name()) != 0 || inits_.count(in.name()) == 0) *inputs.Add() = in;
    }
    g_.mutable_input()->Swap(&inputs);
  }

  onnx::GraphProto& g_;
  const std::map<std::string, TensorRange>& ranges_;
  const QuantizeOptions& options_;
  std::set<std::string> inits_, graph_outputs_, taken_, skip_tensor_, tensors_;
  std::map<std::string, std::vector<int>> consumers_;
  std::map<std::string, int> producer_;
  std::set<int> selected_, fused_;
  std::map<std::string, QParamsF> params_;
  std::vector<std::string> saturated_biases_;
  std::vector<onnx::NodeProto> weight_dq_;
};

}  // namespace

Result<std::vector<float>> FloatsOf(const onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::FLOAT) return Fail(ErrorCode::kInvalidArgument, "'" + t.name() + "' is not float32");
  if (!t.has_raw_data()) return std::vector<float>(t.float_data().begin(), t.float_data().end());
  if (t.raw_data().size() % 4 != 0) return Fail(ErrorCode::kInvalidArgument, "'" + t.name() + "' has a truncated raw_data");
  std::vector<float> v(t.raw_data().size() / 4);
  std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  return v;
}

Result<QuantizeReport> RewriteToQdq(onnx::ModelProto& model, const std::map<std::string, TensorRange>& ranges,
                                    const QuantizeOptions& options) {
  return QdqRewriter(model, ranges, options).Run();
}

}  // namespace edge::engine
