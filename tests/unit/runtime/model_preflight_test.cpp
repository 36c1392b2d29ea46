// PreflightModel: the health gate's load and self-test steps on files not yet installed. It must
// refuse exactly what the gate on a device refuses, naming the file and the problem.
#include "agent/runtime/model_preflight.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

#include "agent/runtime/health_gate.h"
#include "tests/unit/runtime/runtime_fixtures.h"

using namespace edge;
using namespace edge::runtime;
using namespace edge::runtime::testing;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::string FileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// A model file and, optionally, a self-test file in a temp dir.
struct Candidate {
  edge::testing::TempDir dir;
  std::filesystem::path model = dir / "model.onnx";
  std::filesystem::path selftest = dir / "selftest.json";

  explicit Candidate(const std::string& model_bytes) { WriteBytes(model, model_bytes); }
  Candidate& WithSelfTest(const std::string& text) {
    WriteBytes(selftest, text);
    has_selftest = true;
    return *this;
  }
  std::optional<std::filesystem::path> SelfTestPath() const {
    return has_selftest ? std::optional(selftest) : std::nullopt;
  }
  Result<PreflightReport> Preflight(double tolerance = 0.0) const {
    return PreflightModel(model, SelfTestPath(), tolerance);
  }
  // The same files installed as a version directory and put through the device's gate.
  Result<GateReport> Gate(double tolerance = 0.0) const {
    edge::testing::TempDir installed;
    std::filesystem::copy_file(model, installed / "model");
    if (has_selftest) std::filesystem::copy_file(selftest, installed / "selftest");
    return RunHealthGate(installed.path(), MakeManifest(has_selftest, tolerance, 0), {});
  }
  bool has_selftest = false;
};

std::string PreflightError(const Candidate& c, double tolerance = 0.0) {
  auto report = c.Preflight(tolerance);
  REQUIRE_FALSE(report.has_value());
  return report.error().message;
}

}  // namespace

TEST_CASE("preflight accepts a good model, running it at every tier this CPU has", "[preflight]") {
  Candidate c(FileBytes(ZooPath("mlp_anomaly.qdq.onnx")));
  auto report = c.Preflight();
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  REQUIRE(report->model != nullptr);
  REQUIRE_FALSE(report->tiers.empty());
  CHECK(report->tiers.front() == engine::KernelTier::kScalar);
  for (auto tier : report->tiers) CHECK(engine::TierSupported(tier));
  CHECK(report->cases_run == 0);
}

TEST_CASE("preflight accepts a good model with its own self-test, exactly", "[preflight]") {
  for (const std::string name : {"mlp_anomaly", "ds_cnn_kws"}) {
    INFO(name);
    Candidate c(FileBytes(ZooPath(name + ".qdq.onnx")));
    c.WithSelfTest(ZooSelfTestText(name));
    auto report = c.Preflight();
    INFO((report ? "" : report.error().message));
    REQUIRE(report.has_value());
    CHECK(report->cases_run == 4);
    CHECK(report->max_abs_error == 0.0);
  }
}

TEST_CASE("preflight refuses a model the engine does not load, naming file and problem",
          "[preflight]") {
  const std::string good = FileBytes(ZooPath("sensor_conv1d.qdq.onnx"));
  struct Bad {
    const char* what;
    std::string bytes;
    const char* problem;
  };
  const Bad bad[] = {
      {"garbage", std::string(5000, '\x9c') + "not onnx", "not a valid ONNX model"},
      {"truncated ONNX", good.substr(0, good.size() / 2), "not a valid ONNX model"},
      {"an unsupported operator", OnnxWithOp("FrobnicateV2"), "unsupported operator FrobnicateV2"},
  };
  for (const auto& b : bad) {
    INFO(b.what);
    Candidate c(b.bytes);
    const std::string message = PreflightError(c);
    CHECK_THAT(message, StartsWith("model does not load: loading " + c.model.string() + ": "));
    CHECK_THAT(message, Contains(b.problem));
  }
}

TEST_CASE("preflight refuses a self-test file that is not a self-test of this model",
          "[preflight]") {
  struct Bad {
    const char* what;
    std::string text;
    const char* problem;
  };
  const Bad bad[] = {
      {"not JSON", "schema: 1\ncases: []\n", "invalid JSON"},
      {"JSON, not a self-test", R"({"inputs": [1, 2, 3]})", "unknown key 'inputs'"},
      {"a self-test for another model", ZooSelfTestText("ds_cnn_kws"),
       "the model's input 'input' has 64"},
  };
  for (const auto& b : bad) {
    INFO(b.what);
    Candidate c(FileBytes(ZooPath("mlp_anomaly.qdq.onnx")));
    c.WithSelfTest(b.text);
    const std::string message = PreflightError(c);
    CHECK_THAT(message, StartsWith("not a self-test for model " + c.model.string() + ": " +
                                   c.selftest.string()));
    CHECK_THAT(message, Contains(b.problem));
  }
}

TEST_CASE("preflight refuses outputs outside the tolerance and names the tier", "[preflight]") {
  // The fp32 model's outputs shipped with the int8 model: right names and shapes, other values.
  auto fp32 = engine::Model::LoadFile(ZooPath("mlp_anomaly.onnx"));
  REQUIRE(fp32.has_value());
  const std::string fp32_selftest = SerializeOrDie(ZooSelfTest(*fp32, "mlp_anomaly"), **fp32);
  Candidate c(FileBytes(ZooPath("mlp_anomaly.qdq.onnx")));
  c.WithSelfTest(fp32_selftest);
  const std::string message = PreflightError(c);
  CHECK_THAT(message,
             StartsWith("self-test " + c.selftest.string() + " fails on model " + c.model.string() +
                        " at the scalar kernel tier: self-test case 0, output 'logits' element "));
  CHECK_THAT(message, Contains("> tolerance 0)"));
  // Within a tolerance wide enough for int8 rounding, the same files pass.
  auto loose = c.Preflight(1.0);
  INFO((loose ? "" : loose.error().message));
  CHECK(loose.has_value());
}

TEST_CASE("preflight refuses a tolerance the gate refuses", "[preflight]") {
  Candidate c(FileBytes(ZooPath("mlp_anomaly.qdq.onnx")));
  CHECK_THAT(PreflightError(c, -0.5), Contains("must be a finite number >= 0"));
}

// The point of the preflight: what it refuses, the device's gate refuses, and the other way
// round (the latency step aside, which the preflight does not run).
TEST_CASE("preflight and the device's health gate agree", "[preflight][gate]") {
  const std::string mlp = FileBytes(ZooPath("mlp_anomaly.qdq.onnx"));
  const std::string kws = FileBytes(ZooPath("ds_cnn_kws.qdq.onnx"));
  Candidate good(mlp), good_selftest(mlp), garbage("\x08\x07garbage"),
      truncated(kws.substr(0, 700)), unsupported(OnnxWithOp("FrobnicateV2")), not_json(mlp),
      other_model(mlp);
  good_selftest.WithSelfTest(ZooSelfTestText("mlp_anomaly"));
  not_json.WithSelfTest("{");
  other_model.WithSelfTest(ZooSelfTestText("ds_cnn_kws"));
  const std::vector<std::pair<const char*, const Candidate*>> all = {
      {"good", &good},
      {"good with self-test", &good_selftest},
      {"garbage", &garbage},
      {"truncated", &truncated},
      {"unsupported op", &unsupported},
      {"self-test not JSON", &not_json},
      {"self-test of another model", &other_model}};
  for (const auto& [what, c] : all) {
    INFO(what);
    auto preflight = c->Preflight();
    auto gate = c->Gate();
    INFO("preflight: " << (preflight ? "ok" : preflight.error().message));
    INFO("gate: " << (gate ? "ok" : gate.error().message));
    CHECK(preflight.has_value() == gate.has_value());
  }
}
