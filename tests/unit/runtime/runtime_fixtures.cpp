#include "tests/unit/runtime/runtime_fixtures.h"

#include <catch2/catch.hpp>
#include <fstream>

#include "agent/engine/npy_io.h"

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
