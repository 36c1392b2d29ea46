// The quantizer refuses a model that is already quantized (QuantizationOf says what counts)
// unless told to requantize, and a refusal writes no output.
#include "agent/engine/quantizer/quantizer.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>

#include "edge_onnx/onnx.pb.h"
#include "tests/unit/core/temp_dir.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

using Catch::Matchers::Contains;

// x [1, 4] -> node(s) -> y, with each node's op type from `ops` chained in order.
onnx::ModelProto Chain(const std::vector<std::string>& ops) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  auto* g = m.mutable_graph();
  auto* in = g->add_input();
  in->set_name("t0");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  for (size_t i = 0; i < ops.size(); ++i) {
    auto* n = g->add_node();
    n->set_name("n" + std::to_string(i));
    n->set_op_type(ops[i]);
    n->add_input("t" + std::to_string(i));
    n->add_output("t" + std::to_string(i + 1));
  }
  g->add_output()->set_name("t" + std::to_string(ops.size()));
  return m;
}

std::optional<Quantization> QuantizationOfModel(const onnx::ModelProto& m) {
  edge::testing::TempDir dir;
  const auto path = (dir / "m.onnx").string();
  {
    std::ofstream out(path, std::ios::binary);
    REQUIRE(m.SerializeToOstream(&out));
  }
  auto q = QuantizationOf(path);
  INFO((q ? "" : q.error().message));
  REQUIRE(q.has_value());
  return *q;
}

}  // namespace

TEST_CASE("QuantizationOf: QDQ, QLinear and integer ops count, float graphs do not",
          "[quantizer]") {
  for (const std::string name : {"mlp_anomaly", "ds_cnn_kws"}) {
    INFO(name);
    auto fp32 = QuantizationOf(ZooPath(name + ".onnx"));
    REQUIRE(fp32.has_value());
    CHECK_FALSE(fp32->has_value());
    auto qdq = QuantizationOf(ZooPath(name + ".qdq.onnx"));
    REQUIRE(qdq.has_value());
    REQUIRE(qdq->has_value());
    CHECK((*qdq)->nodes > 0);
    CHECK_THAT((*qdq)->op_types, Contains("QuantizeLinear") && Contains("DequantizeLinear"));
  }
  for (const std::string op :
       {"QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", "QLinearConv",
        "QLinearMatMul", "QLinearAdd", "ConvInteger", "MatMulInteger", "QGemm"}) {
    INFO(op);
    auto q = QuantizationOfModel(Chain({"Relu", op, "Relu"}));
    REQUIRE(q.has_value());
    CHECK(q->nodes == 1);
    CHECK(q->first_node == "'n1' (" + op + ")");
  }
  // A uint8 input cast to float is an integer tensor, not a quantized model.
  CHECK_FALSE(QuantizationOfModel(Chain({"Cast", "Relu", "Sigmoid"})).has_value());
}

TEST_CASE("QuantizationOf looks inside subgraphs", "[quantizer]") {
  auto m = Chain({"Relu"});
  auto* if_node = m.mutable_graph()->add_node();
  if_node->set_name("branch");
  if_node->set_op_type("If");
  auto* then_branch = if_node->add_attribute();
  then_branch->set_name("then_branch");
  then_branch->set_type(onnx::AttributeProto::GRAPH);
  *then_branch->mutable_g() = Chain({"QuantizeLinear"}).graph();
  auto q = QuantizationOfModel(m);
  REQUIRE(q.has_value());
  CHECK(q->op_types == "QuantizeLinear");
}

TEST_CASE("quantize refuses an already-quantized model unless told to requantize", "[quantizer]") {
  edge::testing::TempDir dir;
  const std::string out = (dir / "again.onnx").string();
  const NpyArray calibration = ReadOrDie(ZooPath("mlp_anomaly.calib.npy"));
  QuantizeOptions options;
  auto refused = QuantizeModel(ZooPath("mlp_anomaly.qdq.onnx"), calibration, out, options);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code == ErrorCode::kFailedPrecondition);
  CHECK_THAT(refused.error().message, Contains("already quantized: ") &&
                                          Contains("(DequantizeLinear, QuantizeLinear)") &&
                                          Contains("--requantize"));
  CHECK_FALSE(std::filesystem::exists(out));

  options.requantize = true;
  auto again = QuantizeModel(ZooPath("mlp_anomaly.qdq.onnx"), calibration, out, options);
  INFO((again ? "" : again.error().message));
  REQUIRE(again.has_value());
  // Without --eval the last max(10, 20%) samples are held out from calibration.
  CHECK(again->samples == calibration.shape.at(0) - 10);
  CHECK(again->quality.samples == 10);
  LoadOrDie(out);  // what it wrote loads
  // It is the model the QDQ stands for, quantized once more: the fp32 original's QDQ shape (no
  // pair on top of a pair), the same nodes in int8, and the graph output still written by its
  // Gemm, kept float.
  const std::string fresh = (dir / "fresh.onnx").string();
  auto once = QuantizeModel(ZooPath("mlp_anomaly.onnx"), calibration, fresh, {});
  REQUIRE(once.has_value());
  CHECK(again->int8_nodes.size() == once->int8_nodes.size());
  CHECK(again->float_nodes.size() == once->float_nodes.size());
  const auto count = [](const std::string& path, const std::string& op) {
    onnx::ModelProto m;
    std::ifstream in(path, std::ios::binary);
    REQUIRE(m.ParseFromIstream(&in));
    int n = 0;
    for (const auto& node : m.graph().node()) n += node.op_type() == op ? 1 : 0;
    return n;
  };
  CHECK(count(out, "QuantizeLinear") == count(fresh, "QuantizeLinear"));
  CHECK(count(out, "DequantizeLinear") == count(fresh, "DequantizeLinear"));
  CHECK(count(out, "Gemm") == 3);
  for (const auto& q : again->quality.outputs) CHECK(q.snr_db > 40.0);
}

TEST_CASE("quantize of an fp32 model writes a model QuantizationOf finds quantized",
          "[quantizer]") {
  edge::testing::TempDir dir;
  const std::string out = (dir / "q.onnx").string();
  auto report = QuantizeModel(ZooPath("mlp_anomaly.onnx"),
                              ReadOrDie(ZooPath("mlp_anomaly.calib.npy")), out, {});
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  CHECK(report->int8_nodes.size() > 0);
  auto q = QuantizationOf(out);
  REQUIRE(q.has_value());
  CHECK(q->has_value());
}

}  // namespace edge::engine::testing

namespace edge::engine::testing {

TEST_CASE("quantize refuses a model older than opset 13 and writes nothing", "[quantizer]") {
  edge::testing::TempDir dir;
  onnx::ModelProto m;
  {
    std::ifstream in(ZooPath("mlp_anomaly.onnx"), std::ios::binary);
    REQUIRE(m.ParseFromIstream(&in));
  }
  for (auto& op : *m.mutable_opset_import())
    if (op.domain().empty()) op.set_version(11);
  const std::string old_model = (dir / "old.onnx").string(), out = (dir / "q.onnx").string();
  {
    std::ofstream f(old_model, std::ios::binary);
    REQUIRE(m.SerializeToOstream(&f));
  }
  auto refused = QuantizeModel(old_model, ReadOrDie(ZooPath("mlp_anomaly.calib.npy")), out, {});
  REQUIRE_FALSE(refused.has_value());
  CHECK_THAT(refused.error().message, Contains("uses opset 11") && Contains("needs opset 13 or newer"));
  CHECK_FALSE(std::filesystem::exists(out));
}

}  // namespace edge::engine::testing
