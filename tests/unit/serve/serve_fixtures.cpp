#include "tests/unit/serve/serve_fixtures.h"

#include <catch2/catch.hpp>

#include "agent/engine/npy_io.h"

namespace edge::serve::testing {

std::string ZooPath(const std::string& file) { return std::string(EDGE_ZOO_DIR) + "/" + file; }

std::shared_ptr<const engine::Model> LoadZoo(const std::string& file) {
  auto model = engine::Model::LoadFile(ZooPath(file));
  INFO(file << ": " << (model ? "" : model.error().message));
  REQUIRE(model.has_value());
  return *model;
}

std::vector<float> MlpSample(int row) {
  auto array = engine::ReadNpy(ZooPath("mlp_anomaly.input.npy"));
  REQUIRE(array.has_value());
  REQUIRE(array->shape.size() == 2);
  REQUIRE(array->shape[1] == 64);
  REQUIRE(row < array->shape[0]);
  const auto begin = array->data.begin() + row * 64;
  return std::vector<float>(begin, begin + 64);
}

std::vector<float> RunDirect(const std::shared_ptr<const engine::Model>& model, const std::vector<float>& input) {
  REQUIRE(model->inputs().size() == 1);
  REQUIRE(static_cast<int64_t>(input.size()) == model->inputs()[0].elements);
  engine::ExecutionContext ctx(model);
  std::vector<std::vector<float>> outputs;
  std::vector<float*> output_ptrs;
  for (const auto& info : model->outputs()) {
    outputs.emplace_back(static_cast<size_t>(info.elements));
    output_ptrs.push_back(outputs.back().data());
  }
  const float* input_ptr = input.data();
  auto status = ctx.Run(std::span<const float* const>(&input_ptr, 1), output_ptrs);
  REQUIRE(status.has_value());
  return outputs.front();
}

namespace {
ServeConfig FixtureConfig(const edge::testing::TempDir& temp, int64_t max_request_bytes) {
  ServeConfig config;
  config.unix_socket = (temp.path() / "infer.sock").string();
  config.max_request_bytes = max_request_bytes;
  return config;
}
}  // namespace

ServingFixture::ServingFixture(const std::string& name, const std::string& version, const std::string& file,
                               int64_t max_request_bytes)
    : model(LoadZoo(file)),
      socket_path((temp.path() / "infer.sock").string()),
      client("unix:" + socket_path) {
  registry.Activate(name, version, model);
  auto started = InferenceServer::Start(FixtureConfig(temp, max_request_bytes), registry);
  INFO((started ? "" : started.error().message));
  REQUIRE(started.has_value());
  server = std::move(*started);
}

}  // namespace edge::serve::testing
