#include "agent/runtime/health_gate.h"

#include <catch2/catch.hpp>
#include <charconv>
#include <cmath>

#include "tests/unit/runtime/runtime_fixtures.h"

using namespace edge;
using namespace edge::runtime;
using namespace edge::runtime::testing;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

// Each NowNs() call advances by the next of `run_us` on every second call, so a timed run
// (start, end) takes exactly run_us[i] microseconds.
class ScriptedClock final : public LatencyClock {
 public:
  explicit ScriptedClock(std::vector<int64_t> run_us) : run_us_(std::move(run_us)) {}
  int64_t NowNs() override {
    if (calls_++ % 2 == 1) now_ += run_us_.at(next_++) * 1000;
    return now_;
  }

 private:
  std::vector<int64_t> run_us_;
  size_t next_ = 0;
  int64_t calls_ = 0;
  int64_t now_ = 1'000'000;
};

Error GateError(const VersionDir& dir, const bundle::Manifest& manifest,
                const GateOptions& options = {}) {
  auto report = RunHealthGate(dir.path(), manifest, options);
  REQUIRE_FALSE(report.has_value());
  return report.error();
}

}  // namespace

TEST_CASE("a self-test made by the writer passes the gate exactly", "[gate]") {
  for (const std::string name : {"mlp_anomaly", "ds_cnn_kws"}) {
    INFO(name);
    VersionDir dir(name);
    auto model = LoadZooModel(name);
    dir.WriteSelfTest(SerializeOrDie(ZooSelfTest(model, name), *model));
    // Tolerance 0: every tier must reproduce the scalar tier's outputs bit for bit.
    auto report = RunHealthGate(dir.path(), MakeManifest(true, 0.0, 0), {});
    INFO((report ? "" : report.error().message));
    REQUIRE(report.has_value());
    CHECK(report->cases_run == 4);
    CHECK(report->max_abs_error == 0.0);
    CHECK(report->latency_runs == 0);
    REQUIRE(report->model != nullptr);
    // The caller serves the loaded model as it is.
    engine::ExecutionContext ctx(report->model);
    CHECK(RunSelfTest(ctx, ZooSelfTest(model, name), 0.0).has_value());
  }
}

TEST_CASE("a perturbed expected output fails, naming case, output and element", "[gate]") {
  VersionDir dir("mlp_anomaly");
  auto model = LoadZooModel("mlp_anomaly");
  SelfTest selftest = ZooSelfTest(model, "mlp_anomaly");
  const std::string out = model->outputs().at(0).name;

  SECTION("beyond the tolerance") {
    const float want = selftest.cases[1].outputs[0][2] + 0.5f;
    selftest.cases[1].outputs[0][2] = want;
    dir.WriteSelfTest(SerializeOrDie(selftest, *model));
    const Error e = GateError(dir, MakeManifest(true, 0.01, 0));
    CHECK(e.code == ErrorCode::kFailedPrecondition);
    CHECK_THAT(e.message, StartsWith("health gate step 'selftest': self-test case 1, output '" +
                                     out + "' element 2: got "));
    char want_text[64];
    const auto end = std::to_chars(want_text, want_text + sizeof want_text, double(want)).ptr;
    CHECK_THAT(e.message, Contains(", want " + std::string(want_text, end) + " (|diff| ") &&
                              Contains("> tolerance 0.01)"));
  }
  SECTION("within the tolerance, reported as the max error") {
    selftest.cases[3].outputs[0][0] += 0.25f;
    dir.WriteSelfTest(SerializeOrDie(selftest, *model));
    auto report = RunHealthGate(dir.path(), MakeManifest(true, 0.5, 0), {});
    INFO((report ? "" : report.error().message));
    REQUIRE(report.has_value());
    CHECK(report->max_abs_error == Approx(0.25).margin(1e-6));
  }
  SECTION("tolerance 0 means exact") {
    float& v = selftest.cases[0].outputs[0][3];
    v = std::nextafter(v, 1e9f);
    dir.WriteSelfTest(SerializeOrDie(selftest, *model));
    CHECK_THAT(GateError(dir, MakeManifest(true, 0.0, 0)).message,
               Contains("self-test case 0, output '" + out + "' element 3"));
  }
}

TEST_CASE("a corrupt model fails at load", "[gate]") {
  VersionDir dir("mlp_anomaly");
  dir.WriteModelBytes("this is not an ONNX protobuf \x01\x02\x03");
  const Error e = GateError(dir, MakeManifest(false, 0.0, 0));
  CHECK_THAT(e.message, StartsWith("health gate step 'load': model does not load: ") &&
                            Contains((dir.path() / "model").string()));

  SECTION("and so does a missing one") {
    std::filesystem::remove(dir.path() / "model");
    CHECK_THAT(GateError(dir, MakeManifest(false, 0.0, 0)).message,
               StartsWith("health gate step 'load': model does not load"));
  }
}

TEST_CASE("a malformed or missing self-test file fails the selftest step", "[gate]") {
  VersionDir dir("ds_cnn_kws");
  auto model = LoadZooModel("ds_cnn_kws");
  const std::string good = SerializeOrDie(ZooSelfTest(model, "ds_cnn_kws"), *model);
  const std::string in = model->inputs().at(0).name;
  const auto manifest = MakeManifest(true, 0.0, 0);
  auto expect = [&](const std::string& text, const std::string& cause) {
    dir.WriteSelfTest(text);
    const Error e = GateError(dir, manifest);
    CHECK(e.code == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.message, StartsWith("health gate step 'selftest': self-test file is not usable: " +
                                     (dir.path() / "selftest").string()));
    CHECK_THAT(e.message, Contains(cause));
  };
  auto replace = [](std::string s, const std::string& from, const std::string& to) {
    const auto at = s.find(from);
    REQUIRE(at != std::string::npos);
    return s.replace(at, from.size(), to);
  };
  expect(replace(good, "\"schema\":1", "\"schema\":1,\"extra\":true"), "unknown key 'extra'");
  expect(replace(good, "\"" + in + "\":[", "\"" + in + "\":[1,"),
         std::to_string(model->inputs()[0].elements + 1) + " values");
  expect(replace(good, "\"" + in + "\"", "\"wrong\""), "unknown input 'wrong'");
  expect(replace(good, "\"" + in + "\":[", "\"" + in + "\":[NaN,"), "invalid JSON");

  SECTION("missing file") {
    std::filesystem::remove(dir.path() / "selftest");
    CHECK_THAT(GateError(dir, manifest).message,
               StartsWith("health gate step 'selftest'") && Contains("selftest"));
  }
}

TEST_CASE("a 1 us latency budget fails with the measured p99", "[gate][latency]") {
  VersionDir dir("ds_cnn_kws");
  const Error e = GateError(dir, MakeManifest(false, 0.0, 1));
  CHECK(e.code == ErrorCode::kFailedPrecondition);
  CHECK_THAT(e.message, StartsWith("health gate step 'latency': p99 ") &&
                            Contains(" us is over the budget of 1 us (p50 ") &&
                            Contains("50 runs)"));
}

TEST_CASE("the p99 is taken from the injected clock, inclusive of the budget", "[gate][latency]") {
  VersionDir dir("mlp_anomaly");
  auto model = LoadZooModel("mlp_anomaly");
  dir.WriteSelfTest(SerializeOrDie(ZooSelfTest(model, "mlp_anomaly"), *model));
  std::vector<int64_t> run_us;
  for (int64_t i = 1; i <= 100; ++i) run_us.push_back(i * 10);  // 10 .. 1000 us
  GateOptions options;
  options.latency_runs = 100;

  SECTION("p99 equal to the budget passes") {
    ScriptedClock clock(run_us);
    options.clock = &clock;
    auto report = RunHealthGate(dir.path(), MakeManifest(true, 0.0, 990), options);
    INFO((report ? "" : report.error().message));
    REQUIRE(report.has_value());
    CHECK(report->cases_run == 4);
    CHECK(report->latency_runs == 100);
    CHECK(report->p50_us == 500.0);
    CHECK(report->p99_us == 990.0);
  }
  SECTION("p99 over the budget fails with both numbers") {
    ScriptedClock clock(run_us);
    options.clock = &clock;
    CHECK(GateError(dir, MakeManifest(true, 0.0, 989), options).message ==
          "health gate step 'latency': p99 990.00 us is over the budget of 989 us (p50 500.00 us, "
          "100 runs)");
  }
}

TEST_CASE("no self-test and no budget: the gate passes after a load", "[gate]") {
  VersionDir dir("mlp_anomaly");
  auto report = RunHealthGate(dir.path(), MakeManifest(false, 0.0, 0), {});
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  CHECK(report->cases_run == 0);
  CHECK(report->latency_runs == 0);
  REQUIRE(report->model != nullptr);
  CHECK(report->model->inputs().size() == 1);
}

TEST_CASE("a budget without a self-test times zeros", "[gate][latency]") {
  VersionDir dir("mlp_anomaly");
  auto report = RunHealthGate(dir.path(), MakeManifest(false, 0.0, 10'000'000), {});
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  CHECK(report->latency_runs == 50);
  CHECK(report->p99_us >= report->p50_us);
  CHECK(report->p50_us > 0.0);
}

TEST_CASE("a negative tolerance in the manifest is refused", "[gate]") {
  VersionDir dir("mlp_anomaly");
  CHECK_THAT(GateError(dir, MakeManifest(false, -1.0, 0)).message,
             Contains("health.selftest_tolerance -1 must be a finite number >= 0"));
}

TEST_CASE("PercentileNs is nearest-rank", "[gate][latency]") {
  CHECK(PercentileNs({}, 99) == 0);
  CHECK(PercentileNs({7}, 99) == 7);
  CHECK(PercentileNs({5, 1, 4, 2, 3}, 50) == 3);
  CHECK(PercentileNs({5, 1, 4, 2, 3}, 99) == 5);
  std::vector<int64_t> v;
  for (int64_t i = 1; i <= 50; ++i) v.push_back(i);
  CHECK(PercentileNs(v, 99) == 50);
  CHECK(PercentileNs(v, 50) == 25);
}

TEST_CASE("RunSelfTest refuses a case that does not fit the model", "[gate]") {
  auto model = LoadZooModel("mlp_anomaly");
  SelfTest selftest = ZooSelfTest(model, "mlp_anomaly");
  selftest.cases[2].outputs[0].pop_back();
  engine::ExecutionContext ctx(model);
  auto result = RunSelfTest(ctx, selftest, 0.0);
  REQUIRE_FALSE(result.has_value());
  CHECK(result.error().message == "self-test case 2 does not match the model's inputs and outputs");
}
