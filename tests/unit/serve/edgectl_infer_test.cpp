// `edgectl infer` against a real server: the operator's client on our generated stubs.
#include <catch2/catch.hpp>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/engine/npy_io.h"
#include "controller/edgectl/infer_cmd.h"
#include "tests/support/batch_dynamic.h"
#include "tests/unit/serve/serve_fixtures.h"

namespace edge::serve {
namespace {

struct Captured {
  int exit_code;
  std::string out;
};

Captured Run(const edgectl::InferOptions& options, edgectl::OutputFormat format) {
  std::ostringstream out;
  auto* old = std::cout.rdbuf(out.rdbuf());
  const int rc = edgectl::RunInfer(options, format);
  std::cout.rdbuf(old);
  return {rc, out.str()};
}

TEST_CASE("edgectl infer: prints the answering version and the outputs, from .npy or random inputs") {
  testing::ServingFixture f("mlp", "7", testing::kMlpQuantized);
  edgectl::InferOptions options;
  options.model = "mlp";
  options.socket = f.socket_path;

  const auto sample = testing::MlpSample(0);
  const auto npy = (f.temp.path() / "x.npy").string();
  REQUIRE(engine::WriteNpy(npy, {{1, 64}, sample}).has_value());
  options.inputs = {npy};
  auto json = Run(options, edgectl::OutputFormat::kJson);
  REQUIRE(json.exit_code == 0);
  auto parsed = nlohmann::json::parse(json.out);
  CHECK(parsed["version"] == "7");
  CHECK(parsed["outputs"][0]["name"] == "logits");
  CHECK(parsed["outputs"][0]["shape"] == nlohmann::json::array({1, 4}));
  CHECK(parsed["outputs"][0]["data"].get<std::vector<float>>() == testing::RunDirect(f.model, sample));

  options.inputs.clear();
  options.random = true;
  auto table = Run(options, edgectl::OutputFormat::kTable);
  REQUIRE(table.exit_code == 0);
  CHECK_THAT(table.out, Catch::Contains("model mlp, version 7"));
  CHECK_THAT(table.out, Catch::Contains("RANK"));
}

TEST_CASE("edgectl infer: exit 1 with the server's message, 69 when nothing listens") {
  testing::ServingFixture f("mlp", "7", testing::kMlpQuantized);
  edgectl::InferOptions options;
  options.socket = f.socket_path;
  options.random = true;
  options.model = "nope";
  CHECK(Run(options, edgectl::OutputFormat::kTable).exit_code == 1);
  options.model = "mlp";
  options.version = "6";
  CHECK(Run(options, edgectl::OutputFormat::kTable).exit_code == 1);

  options.version.clear();
  options.socket = (f.temp.path() / "absent.sock").string();
  options.timeout_seconds = 2;
  CHECK(Run(options, edgectl::OutputFormat::kTable).exit_code == 69);
}

TEST_CASE("edgectl infer: a batch-dynamic model takes a batch from the .npy and one random sample") {
  testing::ServingFixture f("mlp", "7", testing::kMlpQuantized);
  const std::string dynamic = (f.temp.path() / "mlp_n.onnx").string();
  REQUIRE(edge::testing::MakeBatchDynamicFile(testing::ZooPath(testing::kMlpQuantized), dynamic).has_value());
  auto model = engine::Model::LoadFile(dynamic);
  REQUIRE(model.has_value());
  f.registry.Activate("mlp_n", "1", *model);
  edgectl::InferOptions options;
  options.model = "mlp_n";
  options.socket = f.socket_path;
  std::vector<float> batch;
  std::vector<float> expected;
  for (int row = 0; row < 3; ++row) {
    const auto sample = testing::MlpSample(row);
    batch.insert(batch.end(), sample.begin(), sample.end());
    const auto out = testing::RunDirect(f.model, sample);
    expected.insert(expected.end(), out.begin(), out.end());
  }
  const auto npy = (f.temp.path() / "x3.npy").string();
  REQUIRE(engine::WriteNpy(npy, {{3, 64}, batch}).has_value());
  options.inputs = {npy};
  auto json = Run(options, edgectl::OutputFormat::kJson);
  REQUIRE(json.exit_code == 0);
  auto parsed = nlohmann::json::parse(json.out);
  CHECK(parsed["outputs"][0]["shape"] == nlohmann::json::array({3, 4}));
  CHECK(parsed["outputs"][0]["data"].get<std::vector<float>>() == expected);

  options.inputs.clear();
  options.random = true;
  auto one = Run(options, edgectl::OutputFormat::kJson);
  REQUIRE(one.exit_code == 0);
  CHECK(nlohmann::json::parse(one.out)["outputs"][0]["shape"] == nlohmann::json::array({1, 4}));
}

}  // namespace
}  // namespace edge::serve
