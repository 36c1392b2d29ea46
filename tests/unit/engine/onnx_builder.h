// Builds small ONNX models in code for the engine's tests.
#pragma once

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "edge_onnx/onnx.pb.h"

namespace edge::engine::testing {

// Initializers and nodes added to a graph being built by hand (tests that need more than
// Builder: symbolic dimensions, several outputs, node names chosen by the test).
inline onnx::TensorProto* FloatInit(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims,
                                    const std::vector<float>& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->add_dims(d);
  for (float v : values) t->add_float_data(v);
  return t;
}
// An integer or bool initializer: int64 in int64_data, the other types in int32_data.
inline onnx::TensorProto* IntInit(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& dims,
                                  const std::vector<int64_t>& values, int32_t type = onnx::TensorProto::INT64) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(type);
  for (int64_t d : dims) t->add_dims(d);
  for (int64_t v : values) {
    if (type == onnx::TensorProto::INT64) {
      t->add_int64_data(v);
    } else {
      t->add_int32_data(static_cast<int32_t>(v));
    }
  }
  return t;
}
// A node named after its output.
inline onnx::NodeProto* AddNode(onnx::GraphProto* g, const std::string& op, const std::vector<std::string>& in,
                                const std::string& out) {
  auto* n = g->add_node();
  n->set_name(out);
  n->set_op_type(op);
  for (const auto& i : in) n->add_input(i);
  n->add_output(out);
  return n;
}

// A one-graph model under construction: typed inputs and initializers, nodes.
class Builder {
 public:
  explicit Builder(int64_t opset) {
    m_.set_ir_version(7);
    auto* op = m_.add_opset_import();
    op->set_domain("");
    op->set_version(opset);
    m_.mutable_graph()->set_name("opset_test");
  }
  Builder& Input(const std::string& name, const std::vector<int64_t>& shape,
                 int32_t elem_type = onnx::TensorProto::FLOAT) {
    auto* in = m_.mutable_graph()->add_input();
    in->set_name(name);
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    tt->mutable_shape();  // present even for a scalar
    for (int64_t d : shape) tt->mutable_shape()->add_dim()->set_dim_value(d);
    return *this;
  }
  Builder& Init(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& data) {
    FloatInit(m_.mutable_graph(), name, shape, data);
    return *this;
  }
  Builder& InitI8(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int>& data) {
    return InitInts(name, shape, {data.begin(), data.end()}, onnx::TensorProto::INT8);
  }
  Builder& InitInts(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int64_t>& data,
                    int32_t elem_type) {
    IntInit(m_.mutable_graph(), name, shape, data, elem_type);
    return *this;
  }
  onnx::NodeProto* Node(const std::string& op, const std::vector<std::string>& in, const std::vector<std::string>& out) {
    auto* n = m_.mutable_graph()->add_node();
    n->set_name(op + std::to_string(m_.graph().node_size()));
    n->set_op_type(op);
    for (const auto& i : in) n->add_input(i);
    for (const auto& o : out) n->add_output(o);
    return n;
  }
  Builder& Output(const std::string& name) {
    m_.mutable_graph()->add_output()->set_name(name);
    return *this;
  }
  Result<std::shared_ptr<const Model>> Load(const LoadOptions& options = {}) const {
    m_.SerializeToString(&bytes_);
    return Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes_.data()), bytes_.size()}, options);
  }
  onnx::ModelProto& proto() { return m_; }

 private:
  onnx::ModelProto m_;
  mutable std::string bytes_;
};

inline void IntAttr(onnx::NodeProto* n, const std::string& name, int64_t v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}
inline void FloatAttr(onnx::NodeProto* n, const std::string& name, float v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(v);
}
inline void IntsAttr(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t x : v) a->add_ints(x);
}
inline void FloatsAttr(onnx::NodeProto* n, const std::string& name, const std::vector<float>& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOATS);
  for (float x : v) a->add_floats(x);
}
inline void StrAttr(onnx::NodeProto* n, const std::string& name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

// Runs `model` once on `inputs` (one buffer per model input) and returns every output.
inline std::vector<std::vector<float>> RunAll(const std::shared_ptr<const Model>& model,
                                              const std::vector<std::vector<float>>& inputs,
                                              KernelTier tier = KernelTier::kAuto) {
  ExecutionContext ctx(model, tier);
  std::vector<const float*> in;
  for (const auto& x : inputs) in.push_back(x.data());
  std::vector<std::vector<float>> outs;
  std::vector<float*> out;
  for (const auto& info : model->outputs()) outs.emplace_back(static_cast<size_t>(info.elements));
  for (auto& y : outs) out.push_back(y.data());
  auto r = ctx.Run(in, out);
  if (!r) FAIL(r.error().message);
  return outs;
}

// The message of a load that must fail.
inline std::string LoadError(const Builder& b) {
  auto m = b.Load();
  REQUIRE_FALSE(m.has_value());
  return m.error().message;
}

inline std::shared_ptr<const Model> LoadOk(const Builder& b) {
  auto m = b.Load();
  if (!m) FAIL(m.error().message);
  return *m;
}

}  // namespace edge::engine::testing
