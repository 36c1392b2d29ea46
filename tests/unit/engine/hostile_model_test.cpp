// Malformed and hostile ONNX files must fail to load cleanly: an error naming the problem,
// never a crash, a hang or an unbounded allocation.
#include <catch2/catch.hpp>

#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "agent/engine/engine.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {


Result<std::shared_ptr<const Model>> LoadBytes(const std::string& bytes, const LoadOptions& options = {}) {
  return Model::LoadMemory({reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()}, options);
}

// A small valid model: input [1, 4] -> Relu -> output, opset 13.
onnx::ModelProto TinyModel() {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("tiny");
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->add_dim()->set_dim_value(1);
  shape->add_dim()->set_dim_value(4);
  g->add_output()->set_name("y");
  auto* n = g->add_node();
  n->set_name("relu");
  n->set_op_type("Relu");
  n->add_input("x");
  n->add_output("y");
  return m;
}

std::string Serialize(const onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

void ExpectFailure(const onnx::ModelProto& m, const std::string& fragment) {
  auto r = LoadBytes(Serialize(m));
  REQUIRE_FALSE(r.has_value());
  INFO("error: " << r.error().message);
  CHECK(r.error().message.find(fragment) != std::string::npos);
}

TEST_CASE("the tiny hostile-test baseline model loads", "[engine][hostile]") {
  auto r = LoadBytes(Serialize(TinyModel()));
  INFO((r ? "" : r.error().message));
  REQUIRE(r.has_value());
}

TEST_CASE("garbage and empty files fail to load", "[engine][hostile]") {
  CHECK_FALSE(LoadBytes("").has_value());
  CHECK_FALSE(LoadBytes("not an onnx file at all").has_value());
  std::string noise(4096, '\0');
  std::mt19937 rng(1);
  for (char& c : noise) c = static_cast<char>(rng());
  CHECK_FALSE(LoadBytes(noise).has_value());
  CHECK_FALSE(Model::LoadFile("/nonexistent/model.onnx").has_value());
}

TEST_CASE("every truncation of a zoo model fails cleanly", "[engine][hostile]") {
  const std::string bytes = FileBytes(ZooPath("sensor_conv1d.qdq.onnx"));
  REQUIRE(bytes.size() > 1000);
  REQUIRE(LoadBytes(bytes).has_value());
  for (size_t cut = 0; cut < bytes.size(); cut += 97) {
    auto r = LoadBytes(bytes.substr(0, cut));
    INFO("truncated to " << cut << " bytes");
    CHECK_FALSE(r.has_value());
  }
}

TEST_CASE("random corruption never crashes the loader", "[engine][hostile]") {
  const std::string bytes = FileBytes(ZooPath("op_mix.qdq.onnx"));
  std::mt19937 rng(7);
  int loaded = 0;
  for (int trial = 0; trial < 300; ++trial) {
    std::string copy = bytes;
    const int flips = 1 + trial % 8;
    for (int f = 0; f < flips; ++f) copy[rng() % copy.size()] = static_cast<char>(rng());
    auto r = LoadBytes(copy);
    if (r) {
      // Whatever loaded must also run.
      ++loaded;
      ExecutionContext ctx(*r);
      std::vector<std::vector<float>> ins, outs;
      std::vector<const float*> ip;
      std::vector<float*> op;
      for (const auto& t : (*r)->inputs()) ins.emplace_back(static_cast<size_t>(t.elements), 0.5f);
      for (const auto& t : (*r)->outputs()) outs.emplace_back(static_cast<size_t>(t.elements));
      for (auto& v : ins) ip.push_back(v.data());
      for (auto& v : outs) op.push_back(v.data());
      CHECK(ctx.Run(ip, op).has_value());
    }
  }
  SUCCEED("corrupted copies that still loaded and ran: " << loaded);
}

TEST_CASE("huge negative and dynamic dimensions are rejected", "[engine][hostile]") {
  {
    auto m = TinyModel();
    m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1)->set_dim_value(int64_t{1} << 40);
    ExpectFailure(m, "too large");
  }
  {
    auto m = TinyModel();
    // A symbolic batch (dimension 0) is planned per call; any other symbolic dimension is refused.
    auto* dim = m.mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(1);
    dim->set_dim_param("width");
    ExpectFailure(m, "input 'x' dimension 1 is symbolic ('width'): only an input's leading (batch) dimension");
  }
  {
    auto m = TinyModel();
    auto* init = m.mutable_graph()->add_initializer();
    init->set_name("big");
    init->set_data_type(onnx::TensorProto::FLOAT);
    init->add_dims(1 << 20);
    init->add_dims(1 << 20);  // 2^40 elements claimed, no data
    ExpectFailure(m, "initializer 'big'");
  }
  {
    auto m = TinyModel();
    auto* init = m.mutable_graph()->add_initializer();
    init->set_name("neg");
    init->set_data_type(onnx::TensorProto::FLOAT);
    init->add_dims(-3);
    ExpectFailure(m, "negative dimension");
  }
  {
    auto m = TinyModel();
    auto* init = m.mutable_graph()->add_initializer();
    init->set_name("short");
    init->set_data_type(onnx::TensorProto::FLOAT);
    init->add_dims(100);
    init->set_raw_data(std::string(12, '\0'));  // 3 floats where 100 are declared
    ExpectFailure(m, "raw_data holds 12 bytes");
  }
  {
    auto m = TinyModel();
    auto* init = m.mutable_graph()->add_initializer();
    init->set_name("ext");
    init->set_data_type(onnx::TensorProto::FLOAT);
    init->add_dims(4);
    init->set_data_location(onnx::TensorProto::EXTERNAL);
    ExpectFailure(m, "external data");
  }
}

TEST_CASE("graph structure errors name the node and op", "[engine][hostile]") {
  {
    auto m = TinyModel();
    m.mutable_graph()->mutable_node(0)->set_op_type("NonZero");
    ExpectFailure(m, "node 'relu' (NonZero): unsupported operator NonZero");
  }
  {
    auto m = TinyModel();
    m.mutable_graph()->mutable_node(0)->set_input(0, "missing_weights");
    ExpectFailure(m, "input 'missing_weights' is not produced");
  }
  {
    // y = Relu(z), z = Relu(y): a cycle
    auto m = TinyModel();
    auto* g = m.mutable_graph();
    g->mutable_node(0)->set_input(0, "z");
    auto* n = g->add_node();
    n->set_name("back");
    n->set_op_type("Relu");
    n->add_input("y");
    n->add_output("z");
    ExpectFailure(m, "cycle");
  }
  {
    auto m = TinyModel();
    auto* a = m.mutable_graph()->mutable_node(0)->add_attribute();
    a->set_name("mystery");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(1);
    ExpectFailure(m, "node 'relu' (Relu): unsupported attribute 'mystery'");
  }
  {
    auto m = TinyModel();
    m.mutable_opset_import(0)->set_version(22);
    ExpectFailure(m, "model uses opset 22; this engine knows the ONNX operator sets 1 to 21");
  }
  {
    auto m = TinyModel();  // Relu-1 has the legacy consumed_inputs attribute; handled from Relu-6
    m.mutable_opset_import(0)->set_version(5);
    ExpectFailure(m, "node 'relu' (Relu): Relu at opset 5 is not supported (the engine handles it from opset 6)");
  }
  {
    auto m = TinyModel();
    m.mutable_opset_import(0)->set_domain("com.microsoft");
    ExpectFailure(m, "model imports only the operator set(s) com.microsoft");
  }
  {
    auto m = TinyModel();
    m.mutable_graph()->mutable_node(0)->set_domain("com.microsoft");
    ExpectFailure(m, "domain 'com.microsoft'");
  }
  {
    // Reshape to a shape that multiplies out enormous
    auto m = TinyModel();
    auto* g = m.mutable_graph();
    auto* shape = g->add_initializer();
    shape->set_name("shape");
    shape->set_data_type(onnx::TensorProto::INT64);
    shape->add_dims(3);
    shape->add_int64_data(int64_t{1} << 30);
    shape->add_int64_data(int64_t{1} << 30);
    shape->add_int64_data(4);
    auto* n = g->mutable_node(0);
    n->set_op_type("Reshape");
    n->add_input("shape");
    ExpectFailure(m, "too large");
  }
}

// Found by tests/fuzz (fuzz_onnx_load): the lowering read a node's first input and first
// output without checking it had any, so a Relu with no inputs (or any node with no outputs)
// indexed past the end of an empty vector.
TEST_CASE("a node with no inputs or no outputs is refused, naming it", "[engine][hostile]") {
  {
    auto m = TinyModel();
    m.mutable_graph()->mutable_node(0)->clear_input();
    ExpectFailure(m, "node 'relu' (Relu): no inputs");
  }
  {
    auto m = TinyModel();
    m.mutable_graph()->mutable_node(0)->clear_output();
    ExpectFailure(m, "node 'relu' (Relu): no outputs");
  }
  for (const char* op : {"MaxPool", "GlobalAveragePool", "Transpose", "Softmax", "Flatten", "Sigmoid", "Identity"}) {
    auto m = TinyModel();
    auto* n = m.mutable_graph()->mutable_node(0);
    n->set_op_type(op);
    n->clear_input();
    INFO(op);
    ExpectFailure(m, std::string("(") + op + "): no inputs");
  }
  {
    // A Constant needs no input, but it needs its output.
    auto m = TinyModel();
    auto* c = m.mutable_graph()->add_node();
    c->set_name("const");
    c->set_op_type("Constant");
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(onnx::TensorProto::FLOAT);
    a->mutable_t()->add_float_data(1.0f);
    ExpectFailure(m, "node 'const' (Constant): no outputs");
  }
}

TEST_CASE("an arena above the configured limit fails the load", "[engine][hostile]") {
  const std::string bytes = FileBytes(ZooPath("resnet8.qdq.onnx"));
  LoadOptions options;
  options.max_arena_bytes = 1024;
  auto r = LoadBytes(bytes, options);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == ErrorCode::kResourceExhausted);
}

}  // namespace
}  // namespace edge::engine::testing
