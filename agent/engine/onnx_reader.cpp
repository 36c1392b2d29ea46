#include "agent/engine/onnx_reader.h"

#include <google/protobuf/io/coded_stream.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <optional>

#include "edge_onnx/onnx.pb.h"

namespace edge::engine {
namespace {

const char* OnnxTypeName(int32_t elem_type) {
  switch (elem_type) {
    case onnx::TensorProto::UINT16: return "uint16";
    case onnx::TensorProto::INT16: return "int16";
    case onnx::TensorProto::STRING: return "string";
    case onnx::TensorProto::UINT32: return "uint32";
    case onnx::TensorProto::UINT64: return "uint64";
    case onnx::TensorProto::COMPLEX64: return "complex64";
    case onnx::TensorProto::COMPLEX128: return "complex128";
    case onnx::TensorProto::BFLOAT16: return "bfloat16";
    default: return "unknown";
  }
}

}  // namespace

Result<DType> DTypeOfOnnx(int32_t elem_type, const std::string& what, bool at_edge) {
  switch (elem_type) {
    case onnx::TensorProto::FLOAT: return DType::kF32;
    case onnx::TensorProto::INT8: return DType::kI8;
    case onnx::TensorProto::UINT8: return DType::kU8;
    case onnx::TensorProto::INT32: return DType::kI32;
    case onnx::TensorProto::INT64: return DType::kI64;
    case onnx::TensorProto::BOOL: return DType::kBool;
    case onnx::TensorProto::FLOAT16:
      if (at_edge) return DType::kF16;
      break;
    case onnx::TensorProto::DOUBLE:
      if (at_edge) return DType::kF64;
      break;
    default:
      return Fail(ErrorCode::kInvalidArgument,
                  what + " has unsupported element type " + OnnxTypeName(elem_type) + " (" +
                      std::to_string(elem_type) + "; supported: float32, float16, double, int8, uint8, int32, int64, bool)");
  }
  return Fail(ErrorCode::kInvalidArgument,
              what + " is a " + (elem_type == onnx::TensorProto::FLOAT16 ? "float16" : "double") +
                  " constant; the engine holds float16 and double only as graph inputs and Cast results");
}

namespace {

template <typename T>
void CopyRaw(const std::string& raw, int64_t n, std::vector<T>& out) {
  out.resize(static_cast<size_t>(n));
  if (n > 0) std::memcpy(out.data(), raw.data(), static_cast<size_t>(n) * sizeof(T));
}

Result<ConstTensor> ConvertTensor(const onnx::TensorProto& proto, const std::string& what) {
  if (proto.data_location() == onnx::TensorProto::EXTERNAL || proto.external_data_size() > 0) {
    return Fail(ErrorCode::kInvalidArgument, what + " uses external data, which is not supported");
  }
  ConstTensor t;
  EDGE_ASSIGN_OR_RETURN(t.dtype, DTypeOfOnnx(proto.data_type(), what, false));
  t.shape.assign(proto.dims().begin(), proto.dims().end());
  auto count = CheckedElementCount(t.shape);
  if (!count) return Fail(count.error().Wrap(what));
  const int64_t n = *count;
  const bool raw = proto.has_raw_data();
  const int64_t elem = DTypeBytes(t.dtype);
  if (raw && static_cast<int64_t>(proto.raw_data().size()) != n * elem) {
    return Fail(ErrorCode::kDataLoss, what + ": raw_data holds " +
                                          std::to_string(proto.raw_data().size()) +
                                          " bytes, shape needs " + std::to_string(n * elem));
  }
  auto size_mismatch = [&](int64_t have) {
    return Fail(ErrorCode::kDataLoss, what + ": holds " + std::to_string(have) +
                                          " values, shape needs " + std::to_string(n));
  };
  switch (t.dtype) {
    case DType::kF32:
      if (raw) {
        CopyRaw(proto.raw_data(), n, t.f);
      } else {
        if (proto.float_data_size() != n) return size_mismatch(proto.float_data_size());
        t.f.assign(proto.float_data().begin(), proto.float_data().end());
      }
      break;
    case DType::kI8:
    case DType::kU8:
    case DType::kBool:
    case DType::kI32: {
      if (raw) {
        t.i.resize(static_cast<size_t>(n));
        const char* p = proto.raw_data().data();
        for (int64_t k = 0; k < n; ++k) {
          if (t.dtype == DType::kI8) {
            t.i[k] = static_cast<int8_t>(p[k]);
          } else if (t.dtype == DType::kU8) {
            t.i[k] = static_cast<uint8_t>(p[k]);
          } else if (t.dtype == DType::kBool) {
            t.i[k] = p[k] != 0 ? 1 : 0;
          } else {
            int32_t v;
            std::memcpy(&v, p + 4 * k, 4);
            t.i[k] = v;
          }
        }
      } else {
        if (proto.int32_data_size() != n) return size_mismatch(proto.int32_data_size());
        t.i.assign(proto.int32_data().begin(), proto.int32_data().end());
        const int64_t lo = t.dtype == DType::kI8 ? -128 : t.dtype == DType::kU8 || t.dtype == DType::kBool ? 0 : INT32_MIN;
        const int64_t hi = t.dtype == DType::kI8 ? 127 : t.dtype == DType::kU8 ? 255 : t.dtype == DType::kBool ? 1 : INT32_MAX;
        for (int64_t v : t.i) {
          if (v < lo || v > hi) {
            return Fail(ErrorCode::kDataLoss, what + ": value out of range for its type");
          }
        }
      }
      break;
    }
    case DType::kI64:
      if (raw) {
        CopyRaw(proto.raw_data(), n, t.i);
      } else {
        if (proto.int64_data_size() != n) return size_mismatch(proto.int64_data_size());
        t.i.assign(proto.int64_data().begin(), proto.int64_data().end());
      }
      break;
    case DType::kF16:
    case DType::kF64:
      return Fail(ErrorCode::kInternal, what + ": MapElemType admits no float16/double constant");
  }
  return t;
}

Result<OnnxIo> ConvertIo(const onnx::ValueInfoProto& info, const std::string& role) {
  OnnxIo io;
  io.name = info.name();
  const std::string what = role + " '" + io.name + "'";
  if (!info.type().has_tensor_type()) {
    return Fail(ErrorCode::kInvalidArgument, what + " is not a tensor");
  }
  const auto& tt = info.type().tensor_type();
  EDGE_ASSIGN_OR_RETURN(io.dtype, DTypeOfOnnx(tt.elem_type(), what, true));
  if (!tt.has_shape()) {
    return Fail(ErrorCode::kInvalidArgument, what + " has no shape: dynamic shapes are not supported");
  }
  for (int d = 0; d < tt.shape().dim_size(); ++d) {
    const auto& dim = tt.shape().dim(d);
    const std::string which = what + " dimension " + std::to_string(d);
    if (dim.has_dim_value() && dim.dim_value() == 0) {
      return Fail(ErrorCode::kInvalidArgument, which + " is 0: tensors without elements are not supported");
    }
    if (dim.has_dim_value() && dim.dim_value() < 0) {
      return Fail(ErrorCode::kInvalidArgument, which + " is negative (" + std::to_string(dim.dim_value()) + ")");
    }
    if (!dim.has_dim_value()) {
      const std::string name = dim.dim_param().empty() ? "an unnamed dimension" : "'" + dim.dim_param() + "'";
      if (d != 0) {
        return Fail(ErrorCode::kInvalidArgument,
                    which + " is symbolic (" + name +
                        "): only an input's leading (batch) dimension may be symbolic; export the other dimensions "
                        "with fixed sizes");
      }
      io.shape.push_back(kBatchDim);
      io.batch_param = dim.dim_param();
      continue;
    }
    io.shape.push_back(dim.dim_value());
  }
  std::vector<int64_t> one_sample = io.shape;
  if (!one_sample.empty() && one_sample[0] == kBatchDim) one_sample[0] = 1;
  auto count = CheckedElementCount(one_sample);
  if (!count) return Fail(count.error().Wrap(what));
  return io;
}

Result<OnnxAttr> ConvertAttr(const onnx::AttributeProto& a, const std::string& where) {
  OnnxAttr out;
  out.name = a.name();
  switch (a.type()) {
    case onnx::AttributeProto::INT: out.kind = OnnxAttr::Kind::kInt; out.i = a.i(); break;
    case onnx::AttributeProto::FLOAT: out.kind = OnnxAttr::Kind::kFloat; out.f = a.f(); break;
    case onnx::AttributeProto::INTS:
      out.kind = OnnxAttr::Kind::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::FLOATS:
      out.kind = OnnxAttr::Kind::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::STRING: out.kind = OnnxAttr::Kind::kString; out.s = a.s(); break;
    case onnx::AttributeProto::STRINGS:
      out.kind = OnnxAttr::Kind::kStrings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto::TENSOR: {
      out.kind = OnnxAttr::Kind::kTensor;
      EDGE_ASSIGN_OR_RETURN(out.t, ConvertTensor(a.t(), where + " attribute '" + a.name() + "'"));
      break;
    }
    default: out.kind = OnnxAttr::Kind::kOther; break;
  }
  return out;
}

}  // namespace

const OnnxAttr* OnnxNode::Find(const std::string& attr) const {
  for (const auto& a : attrs) {
    if (a.name == attr) return &a;
  }
  return nullptr;
}
int64_t OnnxNode::Int(const std::string& attr, int64_t fallback) const {
  const OnnxAttr* a = Find(attr);
  return a != nullptr && a->kind == OnnxAttr::Kind::kInt ? a->i : fallback;
}
float OnnxNode::Float(const std::string& attr, float fallback) const {
  const OnnxAttr* a = Find(attr);
  return a != nullptr && a->kind == OnnxAttr::Kind::kFloat ? a->f : fallback;
}
std::string OnnxNode::Str(const std::string& attr, const std::string& fallback) const {
  const OnnxAttr* a = Find(attr);
  return a != nullptr && a->kind == OnnxAttr::Kind::kString ? a->s : fallback;
}
std::vector<int64_t> OnnxNode::Ints(const std::string& attr) const {
  const OnnxAttr* a = Find(attr);
  return a != nullptr && a->kind == OnnxAttr::Kind::kInts ? a->ints : std::vector<int64_t>{};
}
std::vector<float> OnnxNode::Floats(const std::string& attr) const {
  const OnnxAttr* a = Find(attr);
  return a != nullptr && a->kind == OnnxAttr::Kind::kFloats ? a->floats : std::vector<float>{};
}
std::vector<std::string> OnnxNode::Strings(const std::string& attr) const {
  const OnnxAttr* a = Find(attr);
  return a != nullptr && a->kind == OnnxAttr::Kind::kStrings ? a->strings : std::vector<std::string>{};
}

Result<std::vector<int64_t>> OnnxNode::IntsOr(const std::string& attr, int64_t fill, size_t count) const {
  std::vector<int64_t> v = Ints(attr);
  if (v.empty()) v.assign(count, fill);
  if (v.size() != count) return Fail(ErrorCode::kInvalidArgument, "attribute '" + attr + "' has the wrong length");
  return v;
}

Result<OnnxGraph> ReadOnnx(std::span<const uint8_t> bytes) {
  if (bytes.size() > (size_t{1} << 31)) {
    return Fail(ErrorCode::kResourceExhausted, "model file larger than 2 GiB");
  }
  onnx::ModelProto model;
  google::protobuf::io::CodedInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  stream.SetRecursionLimit(64);  // nested graphs/attributes cannot exhaust the stack
  if (!model.ParseFromCodedStream(&stream) || !stream.ConsumedEntireMessage()) {
    return Fail(ErrorCode::kDataLoss, "not a valid ONNX model (protobuf parse failed; truncated or corrupt file?)");
  }
  OnnxGraph g;
  std::string other_domains;
  bool has_default = false;
  for (const auto& op : model.opset_import()) {
    if (op.domain().empty() || op.domain() == "ai.onnx") {
      if (has_default) return Fail(ErrorCode::kInvalidArgument, "model imports the default ONNX domain (ai.onnx) twice");
      has_default = true;
      g.opset = op.version();
    } else {
      other_domains += (other_domains.empty() ? "" : ", ") + op.domain();
    }
  }
  // IR version 1-2 models without an opset_import mean opset 1.
  if (model.opset_import_size() == 0) g.opset = 1;
  if (!has_default && model.opset_import_size() > 0) {
    return Fail(ErrorCode::kInvalidArgument, "model imports only the operator set(s) " + other_domains +
                                                 "; the engine runs operators of the default ONNX domain (ai.onnx)");
  }
  if (g.opset < 1 || g.opset > kNewestOpset) {
    return Fail(ErrorCode::kInvalidArgument,
                "model uses opset " + std::to_string(g.opset) + "; this engine knows the ONNX operator sets 1 to " +
                    std::to_string(kNewestOpset) + " (each operator has its own oldest version, see docs/engine.md)");
  }
  if (!model.has_graph()) return Fail(ErrorCode::kInvalidArgument, "model has no graph");
  const auto& graph = model.graph();
  if (graph.sparse_initializer_size() > 0) {
    return Fail(ErrorCode::kInvalidArgument, "sparse initializers are not supported");
  }
  for (const auto& init : graph.initializer()) {
    EDGE_ASSIGN_OR_RETURN(auto t, ConvertTensor(init, "initializer '" + init.name() + "'"));
    g.initializers[init.name()] = std::move(t);
  }
  std::optional<size_t> first_batched;  // index into g.inputs
  for (const auto& in : graph.input()) {
    if (g.initializers.count(in.name()) != 0) continue;
    EDGE_ASSIGN_OR_RETURN(auto io, ConvertIo(in, "input"));
    g.inputs.push_back(std::move(io));
    const OnnxIo& added = g.inputs.back();
    if (!added.batched()) continue;
    // One batch size binds every symbolic leading dimension, so they must name the same one.
    if (!first_batched) {
      first_batched = g.inputs.size() - 1;
    } else if (const OnnxIo& first = g.inputs[*first_batched]; first.batch_param != added.batch_param) {
      return Fail(ErrorCode::kInvalidArgument,
                  "inputs '" + first.name + "' and '" + added.name + "' have different symbolic leading dimensions ('" +
                      first.batch_param + "', '" + added.batch_param +
                      "'); the engine binds one batch size for all inputs of a call");
    }
  }
  for (const auto& out : graph.output()) {
    OnnxIo io;
    io.name = out.name();
    g.outputs.push_back(std::move(io));  // shape and type come from inference
  }
  if (g.outputs.empty()) return Fail(ErrorCode::kInvalidArgument, "graph has no outputs");
  int anonymous = 0;
  for (const auto& node : graph.node()) {
    OnnxNode n;
    n.op_type = node.op_type();
    // an unnamed node is named after its first named output (a recurrent cell may omit Y)
    const auto named = std::find_if(node.output().begin(), node.output().end(), [](const std::string& o) { return !o.empty(); });
    n.name = !node.name().empty()            ? node.name()
             : named != node.output().end() ? *named
                                             : "#" + std::to_string(anonymous++);
    if (!node.domain().empty() && node.domain() != "ai.onnx") {
      return Fail(ErrorCode::kInvalidArgument,
                  n.Label() + ": operator domain '" + node.domain() + "' is not supported");
    }
    n.inputs.assign(node.input().begin(), node.input().end());
    n.outputs.assign(node.output().begin(), node.output().end());
    for (const auto& a : node.attribute()) {
      EDGE_ASSIGN_OR_RETURN(auto attr, ConvertAttr(a, n.Label()));
      n.attrs.push_back(std::move(attr));
    }
    g.nodes.push_back(std::move(n));
  }
  return g;
}

}  // namespace edge::engine
