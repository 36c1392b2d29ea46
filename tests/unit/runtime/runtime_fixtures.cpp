#include "tests/unit/runtime/runtime_fixtures.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "agent/engine/npy_io.h"
#include "edge_onnx/onnx.pb.h"

namespace edge::runtime::testing {

std::string ZooPath(const std::string& file) { return std::string(EDGE_ZOO_DIR) + "/" + file; }

std::shared_ptr<const engine::Model> LoadZooModel(const std::string& name) {
  auto model = engine::Model::LoadFile(ZooPath(name + ".qdq.onnx"));
  INFO(name << ": " << (model ? "" : model.error().message));
  REQUIRE(model.has_value());
  return *model;
}

SelfTest ZooSelfTest(const std::shared_ptr<const engine::Model>& model, const std::string& name) {
  auto input = engine::ReadNpy(ZooPath(name + ".input.npy"));
  REQUIRE(input.has_value());
  auto selftest = GenerateSelfTest(model, {*input}, engine::KernelTier::kScalar);
  INFO((selftest ? "" : selftest.error().message));
  REQUIRE(selftest.has_value());
  return *selftest;
}

std::string SerializeOrDie(const SelfTest& selftest, const engine::Model& model) {
  auto text = SerializeSelfTest(selftest, model);
  INFO((text ? "" : text.error().message));
  REQUIRE(text.has_value());
  return *text;
}

std::string ZooSelfTestText(const std::string& name) {
  auto model = LoadZooModel(name);
  return SerializeOrDie(ZooSelfTest(model, name), *model);
}

std::string OnnxWithOp(const std::string& op_type) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  auto* opset = m.add_opset_import();
  opset->set_domain("");
  opset->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("one_op");
  auto* in = g->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
  shape->add_dim()->set_dim_value(1);
  shape->add_dim()->set_dim_value(4);
  g->add_output()->set_name("y");
  auto* n = g->add_node();
  n->set_name("the_op");
  n->set_op_type(op_type);
  n->add_input("x");
  n->add_output("y");
  std::string bytes;
  REQUIRE(m.SerializeToString(&bytes));
  return bytes;
}

void WriteBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

bundle::Manifest MakeManifest(bool with_selftest, double tolerance, uint64_t latency_budget_us) {
  bundle::Manifest m;
  m.name = "zoo";
  m.version = "v1";
  m.security_version = 1;
  m.blobs.push_back({"model", std::string(64, 'a'), 1, "application/vnd.onnx"});
  if (with_selftest) {
    m.blobs.push_back(
        {"selftest", std::string(64, 'b'), 1, "application/vnd.edgefleet.selftest+json"});
  }
  m.health.selftest_tolerance = tolerance;
  m.health.latency_budget_us = latency_budget_us;
  return m;
}

VersionDir::VersionDir(const std::string& zoo_name)
    : path_(temp_.path() / "models" / "zoo" / "v1") {
  std::filesystem::create_directories(path_);
  std::filesystem::copy_file(ZooPath(zoo_name + ".qdq.onnx"), path_ / "model");
}

void VersionDir::WriteSelfTest(const std::string& text) const {
  std::ofstream(path_ / "selftest", std::ios::binary | std::ios::trunc) << text;
}

void VersionDir::WriteModelBytes(const std::string& bytes) const {
  std::ofstream(path_ / "model", std::ios::binary | std::ios::trunc) << bytes;
}

}  // namespace edge::runtime::testing
