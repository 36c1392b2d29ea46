#include "tests/support/batch_dynamic.h"

#include <fstream>
#include <iterator>
#include <set>

#include "edge_onnx/onnx.pb.h"

namespace edge::testing {

namespace {

void MakeLeadingSymbolic(onnx::ValueInfoProto& info, const std::string& name) {
  if (!info.type().has_tensor_type() || !info.type().tensor_type().has_shape()) return;
  auto* shape = info.mutable_type()->mutable_tensor_type()->mutable_shape();
  if (shape->dim_size() == 0) return;
  shape->mutable_dim(0)->set_dim_param(name);  // clears dim_value (a oneof)
}

}  // namespace

Result<std::string> MakeBatchDynamic(const std::string& onnx_bytes, const std::string& name) {
  onnx::ModelProto model;
  if (!model.ParseFromString(onnx_bytes)) return Fail(ErrorCode::kDataLoss, "not an ONNX model");
  auto* graph = model.mutable_graph();
  std::set<std::string> initializers;
  for (const auto& t : graph->initializer()) initializers.insert(t.name());
  for (auto& in : *graph->mutable_input()) {
    if (initializers.count(in.name()) == 0) MakeLeadingSymbolic(in, name);
  }
  for (auto& out : *graph->mutable_output()) MakeLeadingSymbolic(out, name);
  graph->clear_value_info();
  std::string bytes;
  if (!model.SerializeToString(&bytes)) return Fail(ErrorCode::kInternal, "cannot serialize the model");
  return bytes;
}

Status MakeBatchDynamicFile(const std::string& in, const std::string& out, const std::string& name) {
  std::ifstream f(in, std::ios::binary);
  if (!f) return Fail(ErrorCode::kNotFound, "cannot open " + in);
  const std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EDGE_ASSIGN_OR_RETURN(std::string rewritten, MakeBatchDynamic(bytes, name));
  std::ofstream o(out, std::ios::binary | std::ios::trunc);
  if (!o.write(rewritten.data(), static_cast<std::streamsize>(rewritten.size()))) {
    return Fail(ErrorCode::kIo, "cannot write " + out);
  }
  return Ok();
}

}  // namespace edge::testing
