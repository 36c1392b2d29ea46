// Quantization of an fp32 model (quantizer.h): calibration (calibration.cpp), the QDQ rewrite
// (qdq_rewriter.cpp), and what a model already holds.
#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <cstring>
#include <filesystem>

#include "agent/engine/compile.h"
#include "agent/engine/quantizer/quantizer.h"
#include "agent/engine/quantizer/qdq_rewriter.h"
#include "common/core/fs.h"
#include "edge_onnx/onnx.pb.h"

namespace edge::engine {
namespace {

// Constant nodes become initializers so that weights behind them can be quantized too.
void ConstantsToInitializers(onnx::GraphProto& g) {
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  std::set<std::string> inits, outputs;
  for (const auto& t : g.initializer()) inits.insert(t.name());
  for (const auto& o : g.output()) outputs.insert(o.name());
  for (const auto& n : g.node()) {
    if (n.op_type() == "Constant" && n.output_size() == 1 && n.attribute_size() == 1 &&
        n.attribute(0).name() == "value") {
      onnx::TensorProto t = n.attribute(0).t();
      t.set_name(n.output(0));
      inits.insert(n.output(0));
      *g.add_initializer() = std::move(t);
    } else {
      *kept.Add() = n;
    }
  }
  // An Identity of a constant (how PyTorch's exporter hands a shared weight to its second user:
  // a siamese net's branches) is that constant: its readers read the initializer itself, so
  // that the quantizer sees a constant weight. One that is a graph output stays. Found over the
  // whole node list before any reader is rewritten: the engine sorts the nodes itself, so a
  // reader (or the next Identity of a chain) may come before the Identity in the file.
  std::map<std::string, std::string> same_as;
  const auto resolve = [&](const std::string& name) {
    auto it = same_as.find(name);
    return it == same_as.end() ? name : it->second;
  };
  const auto folds = [&](const onnx::NodeProto& n) {
    return n.op_type() == "Identity" && n.input_size() == 1 && n.output_size() == 1 && outputs.count(n.output(0)) == 0;
  };
  for (bool more = true; more;) {
    more = false;
    for (const auto& n : kept) {
      if (folds(n) && same_as.count(n.output(0)) == 0 && inits.count(resolve(n.input(0))) != 0) {
        same_as[n.output(0)] = resolve(n.input(0));
        more = true;
      }
    }
  }
  google::protobuf::RepeatedPtrField<onnx::NodeProto> rewritten;
  for (const auto& n : kept) {
    if (folds(n) && same_as.count(n.output(0)) != 0) continue;
    onnx::NodeProto& k = *rewritten.Add();
    k = n;
    for (auto& in : *k.mutable_input()) in = resolve(in);
  }
  g.mutable_node()->Swap(&rewritten);
}

// The integers of an int8, uint8 or int32 initializer (raw little-endian bytes or int32_data).
Result<std::vector<int64_t>> IntegerData(const onnx::TensorProto& t) {
  const int type = t.data_type();
  const size_t width = type == onnx::TensorProto::INT32 ? 4 : 1;
  if (type != onnx::TensorProto::INT8 && type != onnx::TensorProto::UINT8 && type != onnx::TensorProto::INT32) {
    return Fail(ErrorCode::kInvalidArgument, "'" + t.name() + "' is of ONNX element type " + std::to_string(type) +
                                                 ", not int8, uint8 or int32");
  }
  std::vector<int64_t> v;
  if (!t.has_raw_data()) {
    v.assign(t.int32_data().begin(), t.int32_data().end());
    return v;
  }
  const std::string& raw = t.raw_data();
  if (raw.size() % width != 0) return Fail(ErrorCode::kInvalidArgument, "'" + t.name() + "' has a truncated raw_data");
  for (size_t k = 0; k < raw.size(); k += width) {
    if (type == onnx::TensorProto::INT32) {
      int32_t x;
      std::memcpy(&x, raw.data() + k, 4);  // little-endian, as ONNX stores it and x86-64 / arm64 read it
      v.push_back(x);
    } else {
      v.push_back(type == onnx::TensorProto::INT8 ? int64_t(static_cast<int8_t>(raw[k])) : int64_t(static_cast<uint8_t>(raw[k])));
    }
  }
  return v;
}

// A DequantizeLinear of initializers, computed: y = (x - zero_point) * scale, per tensor or per
// axis (as the operator defines it).
Result<onnx::TensorProto> DequantizedConstant(const onnx::NodeProto& n, const std::map<std::string, const onnx::TensorProto*>& inits) {
  const auto init = [&](int k) { return k < n.input_size() && inits.count(n.input(k)) != 0 ? inits.at(n.input(k)) : nullptr; };
  const onnx::TensorProto *x = init(0), *scale = init(1), *zp = init(2);
  EDGE_ASSIGN_OR_RETURN(std::vector<int64_t> q, IntegerData(*x));
  EDGE_ASSIGN_OR_RETURN(std::vector<float> s, FloatsOf(*scale));
  std::vector<int64_t> z(s.size(), 0);
  if (zp != nullptr) {
    EDGE_ASSIGN_OR_RETURN(z, IntegerData(*zp));
  }
  int64_t count = 1;
  for (int64_t d : x->dims()) count *= d;
  const int rank = x->dims_size();
  int64_t axis = 1, inner = 1;
  for (const auto& a : n.attribute()) {
    if (a.name() == "axis") axis = a.i();
    if (a.name() == "block_size" && a.i() != 0) return Fail(ErrorCode::kInvalidArgument, "blocked quantization (block_size) is not supported");
  }
  if (axis < 0) axis += rank;
  if (static_cast<int64_t>(q.size()) != count) {
    return Fail(ErrorCode::kInvalidArgument, "'" + x->name() + "' holds " + std::to_string(q.size()) +
                                                 " values for a shape of " + std::to_string(count));
  }
  if (s.empty() || z.size() != s.size()) {
    return Fail(ErrorCode::kInvalidArgument, "scale '" + scale->name() + "' has " + std::to_string(s.size()) +
                                                 " value(s) and the zero point " + std::to_string(z.size()));
  }
  if (s.size() > 1 && (axis < 0 || axis >= rank || x->dims(static_cast<int>(axis)) != static_cast<int64_t>(s.size()))) {
    return Fail(ErrorCode::kInvalidArgument, "scale '" + scale->name() + "' has " + std::to_string(s.size()) +
                                                 " values, not one per index of axis " + std::to_string(axis) +
                                                 " of its data (rank " + std::to_string(rank) + ")");
  }
  for (int d = static_cast<int>(axis) + 1; d < rank; ++d) inner *= x->dims(d);
  onnx::TensorProto y;
  y.set_name(n.output(0));
  y.set_data_type(onnx::TensorProto::FLOAT);
  *y.mutable_dims() = x->dims();
  for (int64_t k = 0; k < count; ++k) {
    const size_t c = s.size() == 1 ? 0 : static_cast<size_t>((k / inner) % static_cast<int64_t>(s.size()));
    y.add_float_data(static_cast<float>(q[k] - z[c]) * s[c]);
  }
  return y;
}

// The float values of an optional initializer input (a scale, a zero point), or nothing.
std::optional<std::vector<double>> ConstantValues(const onnx::NodeProto& n, int k,
                                                  const std::map<std::string, const onnx::TensorProto*>& inits) {
  if (k >= n.input_size() || n.input(k).empty()) return std::vector<double>{0.0};  // an omitted zero point
  const auto it = inits.find(n.input(k));
  if (it == inits.end()) return std::nullopt;
  if (it->second->data_type() == onnx::TensorProto::FLOAT) {
    auto f = FloatsOf(*it->second);
    if (!f) return std::nullopt;
    return std::vector<double>(f->begin(), f->end());
  }
  auto i = IntegerData(*it->second);
  if (!i) return std::nullopt;
  return std::vector<double>(i->begin(), i->end());
}

// --requantize: the model as the fp32 model it stands for, its weights at their dequantized
// values (the second rounding the flag accepts). A DequantizeLinear of initializers becomes a
// float initializer; a QuantizeLinear read only by DequantizeLinears with its own scale and
// zero point goes with them (pairs in a chain too), their readers reading its float input. A
// graph output read through a pair keeps its name: the producer of the float it stands for
// writes it, or an Identity where that is a graph input, an initializer or another output.
// Pairs that rescale (other parameters on the DequantizeLinear) stay, as do malformed nodes
// (the loader has already refused those).
Status DropQdq(onnx::GraphProto& g) {
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : g.initializer()) inits[t.name()] = &t;
  std::set<std::string> inputs, outputs;
  for (const auto& in : g.input()) inputs.insert(in.name());
  for (const auto& o : g.output()) outputs.insert(o.name());
  std::map<std::string, std::vector<int>> readers;
  std::map<std::string, int> producer;
  for (int i = 0; i < g.node_size(); ++i) {
    for (const auto& in : g.node(i).input()) readers[in].push_back(i);
    for (const auto& out : g.node(i).output()) producer[out] = i;
  }
  std::vector<onnx::TensorProto> constants;
  std::map<std::string, std::string> alias;  // a dropped DequantizeLinear's output -> the float it stands for
  std::set<int> dropped;
  for (int i = 0; i < g.node_size(); ++i) {
    const onnx::NodeProto& n = g.node(i);
    if (n.input_size() < 2 || n.output_size() < 1) continue;
    const bool constant_input = inits.count(n.input(0)) != 0 && inits.count(n.input(1)) != 0 &&
                                (n.input_size() < 3 || n.input(2).empty() || inits.count(n.input(2)) != 0);
    if (n.op_type() == "DequantizeLinear" && constant_input) {
      auto y = DequantizedConstant(n, inits);
      if (!y) return Fail(ErrorCode::kInvalidArgument, "--requantize: DequantizeLinear '" + n.name() + "': " + y.error().message);
      constants.push_back(std::move(*y));
      dropped.insert(i);
      continue;
    }
    if (n.op_type() != "QuantizeLinear" || n.output_size() != 1 || outputs.count(n.output(0)) != 0 ||
        inits.count(n.input(0)) != 0) {
      continue;
    }
    const auto& q_readers = readers[n.output(0)];
    const auto scale = ConstantValues(n, 1, inits), zero_point = ConstantValues(n, 2, inits);
    const bool pairs = !q_readers.empty() && scale && zero_point &&
                       std::all_of(q_readers.begin(), q_readers.end(), [&](int r) {
                         const onnx::NodeProto& d = g.node(r);
                         return d.op_type() == "DequantizeLinear" && d.output_size() == 1 && d.input_size() >= 2 &&
                                d.input(0) == n.output(0) && ConstantValues(d, 1, inits) == scale &&
                                ConstantValues(d, 2, inits) == zero_point;
                       });
    if (!pairs) continue;
    dropped.insert(i);
    for (int r : q_readers) {
      dropped.insert(r);
      alias[g.node(r).output(0)] = n.input(0);
    }
  }
  // through chains of pairs (Q -> DQ -> Q -> DQ) to the float at the start
  const auto resolve = [&](std::string name) {
    for (size_t k = 0; k <= alias.size(); ++k) {
      const auto it = alias.find(name);
      if (it == alias.end()) break;
      name = it->second;
    }
    return name;
  };
  std::map<std::string, std::string> renamed;   // a kept node's float output -> the graph output's name
  std::vector<std::pair<std::string, std::string>> identities;  // graph output <- float
  for (const auto& o : g.output()) {
    if (alias.count(o.name()) == 0) continue;
    const std::string from = resolve(o.name());
    const auto p = producer.find(from);
    const bool rename = p != producer.end() && dropped.count(p->second) == 0 && outputs.count(from) == 0 &&
                        inputs.count(from) == 0 && renamed.count(from) == 0;
    if (rename) {
      renamed[from] = o.name();
    } else {
      identities.emplace_back(o.name(), from);
    }
  }
  const auto final_name = [&](const std::string& name) {
    const std::string r = resolve(name);
    const auto it = renamed.find(r);
    return it != renamed.end() ? it->second : r;
  };
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (int i = 0; i < g.node_size(); ++i) {
    if (dropped.count(i) != 0) continue;
    onnx::NodeProto n = g.node(i);
    for (int k = 0; k < n.input_size(); ++k) {
      if (!n.input(k).empty()) n.set_input(k, final_name(n.input(k)));
    }
    for (int k = 0; k < n.output_size(); ++k) {
      if (auto it = renamed.find(n.output(k)); it != renamed.end()) n.set_output(k, it->second);
    }
    *kept.Add() = std::move(n);
  }
  for (const auto& [output, from] : identities) {
    onnx::NodeProto id;
    id.set_op_type("Identity");
    id.set_name(output + "_requantize_identity");
    id.add_input(final_name(from));
    id.add_output(output);
    *kept.Add() = std::move(id);
  }
  g.mutable_node()->Swap(&kept);
  for (auto& t : constants) *g.add_initializer() = std::move(t);
  return Ok();
}

// A Transpose of a float initializer (a weight stored transposed: MatMul(x, Transpose(W)))
// becomes the transposed initializer, so that the weight is quantized as a constant per
// channel (the engine keeps a large one a run-time step).
void FoldConstantTransposes(onnx::GraphProto& g) {
  std::map<std::string, const onnx::TensorProto*> inits;
  for (const auto& t : g.initializer()) inits[t.name()] = &t;
  std::set<std::string> outputs;
  for (const auto& o : g.output()) outputs.insert(o.name());
  std::vector<onnx::TensorProto> constants;
  google::protobuf::RepeatedPtrField<onnx::NodeProto> kept;
  for (const auto& n : g.node()) {
    const auto it = n.op_type() == "Transpose" && n.input_size() == 1 && n.output_size() == 1 ? inits.find(n.input(0))
                                                                                              : inits.end();
    auto values = it != inits.end() ? FloatsOf(*it->second) : Result<std::vector<float>>(Fail(ErrorCode::kNotFound, ""));
    const int rank = it != inits.end() ? it->second->dims_size() : 0;
    std::vector<int64_t> perm;
    for (const auto& a : n.attribute()) {
      if (a.name() == "perm") perm.assign(a.ints().begin(), a.ints().end());
    }
    if (perm.empty()) {
      for (int d = rank - 1; d >= 0; --d) perm.push_back(d);
    }
    std::vector<bool> seen(static_cast<size_t>(rank), false);
    bool valid = values.has_value() && static_cast<int>(perm.size()) == rank && outputs.count(n.output(0)) == 0;
    for (size_t d = 0; valid && d < perm.size(); ++d) {
      valid = perm[d] >= 0 && perm[d] < rank && !seen[static_cast<size_t>(perm[d])];
      if (valid) seen[static_cast<size_t>(perm[d])] = true;
    }
    int64_t count = 1;
    for (int d = 0; valid && d < rank; ++d) count *= it->second->dims(d);
    if (!valid || static_cast<int64_t>(values->size()) != count) {
      *kept.Add() = n;
      continue;
    }
    const auto& dims = it->second->dims();
    std::vector<int64_t> in_strides(static_cast<size_t>(rank), 1), out_dims(static_cast<size_t>(rank));
    for (int d = rank - 1; d > 0; --d) in_strides[d - 1] = in_strides[d] * dims[d];
    for (int d = 0; d < rank; ++d) out_dims[d] = dims[static_cast<int>(perm[d])];
    onnx::TensorProto t;
    t.set_name(n.output(0));
    t.set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : out_dims) t.add_dims(d);
    std::vector<int64_t> idx(static_cast<size_t>(rank), 0);
    for (int64_t k = 0; k < count; ++k) {
      int64_t src = 0;
      for (int d = 0; d < rank; ++d) src += idx[d] * in_strides[static_cast<size_t>(perm[d])];
      t.add_float_data((*values)[static_cast<size_t>(src)]);
      for (int d = rank - 1; d >= 0; --d) {
        if (++idx[d] < out_dims[d]) break;
        idx[d] = 0;
      }
    }
    constants.push_back(std::move(t));
  }
  g.mutable_node()->Swap(&kept);
  for (auto& t : constants) *g.add_initializer() = std::move(t);
}

bool IsQuantizationOp(const std::string& op) {
  static const std::set<std::string> kOps = {
      "QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "ConvInteger",  "MatMulInteger",
      "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QGemm", "QAttention"};
  return kOps.count(op) != 0 || op.rfind("QLinear", 0) == 0;
}

// Subgraphs too: a QDQ body inside an If or a Loop is just as quantized.
void FindQuantization(const onnx::GraphProto& g, Quantization& q, std::set<std::string>& op_types) {
  for (const auto& n : g.node()) {
    if (IsQuantizationOp(n.op_type())) {
      if (q.nodes++ == 0) q.first_node = "'" + n.name() + "' (" + n.op_type() + ")";
      op_types.insert(n.op_type());
    }
    for (const auto& a : n.attribute()) {
      if (a.has_g()) FindQuantization(a.g(), q, op_types);
      for (const auto& sub : a.graphs()) FindQuantization(sub, q, op_types);
    }
  }
}

std::optional<Quantization> QuantizationOfModel(const onnx::ModelProto& model) {
  Quantization q;
  std::set<std::string> op_types;
  FindQuantization(model.graph(), q, op_types);
  if (q.nodes == 0) return std::nullopt;
  for (const auto& op : op_types) q.op_types += (q.op_types.empty() ? "" : ", ") + op;
  return q;
}

// Checked before any work. --out is never empty or a directory, never one of the files the run
// reads (compared by filesystem identity, so "./d/../m.onnx", a symlink and a hard link count as
// that file), and an existing one (a dangling symlink too) only with --force.
Status CheckOutputPath(const std::string& in_path, const std::string& out_path, const ModelSamples& calibration,
                       const QuantizeOptions& options) {
  namespace sfs = std::filesystem;
  std::error_code ec;
  if (sfs::is_directory(out_path, ec)) {
    return Fail(ErrorCode::kInvalidArgument,
                "--out " + out_path + " is a directory; name a file to write (e.g. " +
                    (sfs::path(out_path) / "model.qdq.onnx").string() + ")");
  }
  const bool exists = sfs::exists(sfs::symlink_status(out_path, ec));
  std::vector<std::pair<const std::string*, const char*>> inputs = {
      {&in_path, "the input model itself; refusing to overwrite the fp32 original"},
      {&options.calibration_path, "the --calibration data file"},
      {&options.eval_path, "the --eval data file"}};
  for (const auto& file : calibration.files) inputs.emplace_back(&file, "a --calibration data file");
  for (const auto& file : options.eval.files) inputs.emplace_back(&file, "an --eval data file");
  for (const auto& [path, what] : inputs) {
    std::error_code eq;
    if (exists && !path->empty() && sfs::equivalent(*path, out_path, eq)) {
      return Fail(ErrorCode::kAlreadyExists,
                  "--out " + out_path + " is " + what + " (" + *path + "), refused even with --force: choose another --out");
    }
  }
  if (exists && !options.force) {
    return Fail(ErrorCode::kAlreadyExists, "--out " + out_path + " already exists; pass --force to replace it");
  }
  return Ok();
}

Result<onnx::ModelProto> ReadOnnxProto(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Fail(ErrorCode::kNotFound, "cannot open " + path);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes)) return Fail(ErrorCode::kDataLoss, path + " is not a valid ONNX model");
  return model;
}

// The rewriter's choice as the engine runs it: a node it put between QDQ pairs whose steps
// still compute in float (a Concat with a constant input, the first pair of a three-input Max)
// moves to the float nodes, its reason naming the step.
void ReportAsRun(const Model& int8, QuantizeReport& report) {
  std::map<std::string, std::string, std::less<>> float_step;  // node -> its first float step
  for (const auto& step : int8.graph().steps) {
    if (step->computes_float) float_step.emplace(step->node, step->summary);
  }
  std::vector<Int8Node> int8_nodes;
  for (auto& n : report.int8_nodes) {
    auto it = float_step.find(n.name);
    if (it == float_step.end()) {
      int8_nodes.push_back(std::move(n));
    } else {
      report.float_nodes.push_back(FloatNode{n.name, n.op_type, "between QDQ pairs, but the engine computes it in "
                                                                  "float (step " + it->second + ")"});
    }
  }
  report.int8_nodes = std::move(int8_nodes);
}

}  // namespace

Result<std::optional<Quantization>> QuantizationOf(const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(auto model, ReadOnnxProto(path));
  return QuantizationOfModel(model);
}

Status ValidateQuantizeOptions(const QuantizeOptions& options, const std::string& out_path) {
  // NaN compares false with everything and would silently turn a check off: checked first.
  // Each tail drops (100 - P)% of the values, so below 50 the tails would overlap.
  if (!(options.percentile >= 50.0 && options.percentile <= 100.0)) {
    return Fail(ErrorCode::kInvalidArgument, "--percentile " + std::to_string(options.percentile) +
                                                 " is not a number in [50, 100] (the share of values kept inside each range)");
  }
  if (options.min_snr_db && !std::isfinite(*options.min_snr_db)) {
    return Fail(ErrorCode::kInvalidArgument, "--min-snr must be a finite number of dB (0 turns the bar off)");
  }
  if (options.min_top1_percent && !std::isfinite(*options.min_top1_percent)) {
    return Fail(ErrorCode::kInvalidArgument, "--min-top1 must be a finite percentage in [0, 100]");
  }
  if (out_path.empty()) return Fail(ErrorCode::kInvalidArgument, "--out is empty: name the file to write");
  return Ok();
}

Result<QuantizeReport> QuantizeModel(const std::string& in_path, const ModelSamples& calibration,
                                     const std::string& out_path, const QuantizeOptions& options) {
  EDGE_TRY(ValidateQuantizeOptions(options, out_path));
  EDGE_TRY(CheckOutputPath(in_path, out_path, calibration, options));
  EDGE_ASSIGN_OR_RETURN(auto model, ReadOnnxProto(in_path));
  if (auto q = QuantizationOfModel(model); q && !options.requantize) {
    return Fail(ErrorCode::kFailedPrecondition,
                "already quantized: " + std::to_string(q->nodes) + " quantization node(s) (" +
                    q->op_types + "), the first " + q->first_node +
                    "; quantizing it again rounds its values twice. Quantize the fp32 original, or pass "
                    "--requantize to do it anyway");
  }
  // The QDQ form written here (per-channel DequantizeLinear) exists from opset 13; raising an
  // older model's opset would change what some of its operators mean (Softmax, Squeeze, Clip).
  int64_t opset = 0;
  for (const auto& op : model.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") opset = op.version();
  if (opset < 13) {
    return Fail(ErrorCode::kFailedPrecondition,
                in_path + " uses opset " + std::to_string(opset) +
                    "; the quantizer writes per-channel QDQ, which needs opset 13 or newer: export the model "
                    "again with opset 13 or newer (torch.onnx.export(..., opset_version=13))");
  }
  // The file as the engine reads it first: its errors name the file and its own nodes.
  EDGE_TRY(Model::LoadFile(in_path).transform([](auto&&) {}));
  // --keep-float names nodes of the model as given: a Constant, an Identity of a weight or a
  // Transpose of one that the folds below take out is still one of its nodes (with no step, it
  // is float anyway), so an entry is checked here and handed on only if it names something left.
  const auto names_node = [](const onnx::GraphProto& g, const std::string& keep) {
    return std::any_of(g.node().begin(), g.node().end(),
                       [&](const onnx::NodeProto& n) { return n.name() == keep || n.op_type() == keep; });
  };
  for (const std::string& keep : options.keep_float) {
    if (!names_node(model.graph(), keep)) {
      return Fail(ErrorCode::kInvalidArgument, "--keep-float '" + keep + "' names no node and no op type of the model");
    }
  }
  // The model calibrated, rewritten and compared against: the input as read (constants as
  // initializers, transposed float initializers folded), with --requantize its quantization
  // taken out first.
  ConstantsToInitializers(*model.mutable_graph());
  FoldConstantTransposes(*model.mutable_graph());
  if (options.requantize) EDGE_TRY(DropQdq(*model.mutable_graph()));
  QuantizeOptions rewrite_options = options;
  std::erase_if(rewrite_options.keep_float, [&](const std::string& keep) { return !names_node(model.graph(), keep); });
  std::string fp32_bytes;
  if (!model.SerializeToString(&fp32_bytes)) return Fail(ErrorCode::kInternal, "cannot serialize the model");
  const std::span<const uint8_t> fp32_span(reinterpret_cast<const uint8_t*>(fp32_bytes.data()), fp32_bytes.size());
  EDGE_ASSIGN_OR_RETURN(auto fp32, Model::LoadMemory(fp32_span));
  // Each input's data is checked on its own (an int64 input's ids are no magnitudes), and the
  // same samples of every input are calibrated on, held out and compared.
  const std::vector<TensorInfo>& inputs = fp32->inputs();
  if (inputs.empty()) {
    return Fail(ErrorCode::kInvalidArgument, "the model has no inputs: there is nothing to calibrate on");
  }
  EDGE_ASSIGN_OR_RETURN(const auto layouts,
                        ValidateSamples(inputs, calibration, "calibration data", !options.allow_outliers));
  // Quality is measured on samples the ranges never saw: --eval, or the calibration's tail.
  ModelSamples ranges_from = calibration, held_out = options.eval;
  std::vector<HoldOutSplit> splits;
  std::string source = "--eval data";
  if (!held_out.empty()) {
    EDGE_ASSIGN_OR_RETURN(const auto eval_layouts, ValidateSamples(inputs, held_out, "eval data", false));
    const int64_t shared = SamplesAlsoIn(held_out, calibration, layouts);
    if (shared == eval_layouts[0].count) {
      return Fail(ErrorCode::kInvalidArgument,
                  "every --eval sample is also a calibration sample, so the report could not see what "
                  "quantization lost: give held-out samples, or leave out --eval to hold out part of the "
                  "calibration data");
    }
    if (shared > 0) source += " (" + std::to_string(shared) + " of them also calibration samples)";
  } else {
    EDGE_ASSIGN_OR_RETURN(splits, SplitHeldOut(calibration, layouts));
    ranges_from = held_out = ModelSamples();
    for (const auto& split : splits) {
      ranges_from.inputs.push_back(&split.calibration);
      held_out.inputs.push_back(&split.held_out);
    }
    source = "the last " + std::to_string(splits[0].held_out.shape[0]) + " of " + std::to_string(layouts[0].count) +
             " calibration samples (held out, not used for ranges)";
  }
  EDGE_ASSIGN_OR_RETURN(auto range_list, CalibrateRanges(fp32_span, ranges_from, options));
  std::map<std::string, TensorRange> ranges(range_list.begin(), range_list.end());
  EDGE_ASSIGN_OR_RETURN(QuantizeReport report, RewriteToQdq(model, ranges, rewrite_options));
  report.samples = ranges_from.inputs[0]->shape[0];
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return Fail(ErrorCode::kInternal, "cannot serialize the quantized model");
  EDGE_ASSIGN_OR_RETURN(auto int8, Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}));
  ReportAsRun(*int8, report);
  EDGE_ASSIGN_OR_RETURN(report.quality, MeasureQuality(fp32, int8, held_out));
  report.quality.source = source;
  report.below_bar = MissedQualityBar(report.quality, options.min_snr_db, options.min_top1_percent);
  // A run that misses a bar writes nothing and removes nothing: an existing --out stays.
  if (!report.below_bar.empty()) return report;
  // A temp file beside the output moved into place: never a partial model at out_path. Without
  // --force the move refuses a file that appeared at out_path while this run was working.
  if (options.force) {
    EDGE_TRY(fs::WriteFileAtomic(out_path, bytes));
  } else if (auto st = fs::WriteFileNoReplace(out_path, bytes); !st) {
    if (st.error().code != ErrorCode::kAlreadyExists) return Fail(st.error());
    return Fail(ErrorCode::kAlreadyExists,
                "--out " + out_path + " appeared while quantizing; not replaced (pass --force to replace it)");
  }
  return report;
}

}  // namespace edge::engine
