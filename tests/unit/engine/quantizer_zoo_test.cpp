// End to end: every fp32 zoo model quantized from its calibration data, its int8 model read
// back from disk and measured on its held-out eval data; and the command's exit codes.
#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <tuple>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

#include "tests/unit/engine/model_cli_support.h"
#include "agent/engine/quantizer/quantizer.h"
#include "tests/unit/core/temp_dir.h"
#include "agent/engine/npy_io.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

namespace fs = std::filesystem;

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every X.onnx in the zoo but the committed int8 models and ort_floor (a runtime-floor check
// without calibration data): a model added to the zoo is quantized here without a test change.
std::vector<std::string> Fp32ZooModels() {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(fs::path(ZooPath("")))) {
    const std::string file = e.path().filename().string();
    if (e.path().extension() != ".onnx" || file.ends_with(".qdq.onnx")) continue;
    if (file == "ort_floor.onnx") continue;
    names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}


}  // namespace

TEST_CASE("every fp32 zoo model quantizes to held-out SNR >= 30 dB and top-1 >= 99 percent",
          "[quantizer][zoo]") {
  // op_mix is an operator-coverage graph whose softmax output is not a class score (see
  // zoo_golden_test.cpp): its bar is the SNR alone.
  const std::set<std::string> not_classifiers = {"op_mix"};
  const auto models = Fp32ZooModels();
  REQUIRE(models.size() >= 6);
  edge::testing::TempDir dir;
  for (const auto& name : models) {
    INFO(name);
    const std::string out = (dir / (name + ".qdq.onnx")).string();
    const NpyArray eval = ReadOrDie(ZooPath(name + ".eval.npy"));
    QuantizeOptions options;
    options.eval = &eval;
    auto report = QuantizeModel(ZooPath(name + ".onnx"), ReadOrDie(ZooPath(name + ".calib.npy")), out, options);
    INFO((report ? "" : report.error().message));
    REQUIRE(report.has_value());
    CHECK(report->int8_nodes.size() > 0);
    // Measured again from the file on disk, independently of the report.
    auto quality = MeasureQuality(ZooPath(name + ".onnx"), out, eval);
    REQUIRE(quality.has_value());
    CHECK(quality->samples == eval.shape.at(0));
    for (const auto& o : quality->outputs) {
      INFO("output " << o.name << ": SNR " << o.snr_db << " dB, top-1 " << o.top1_agreement << ", cosine " << o.cosine);
      CHECK(o.snr_db >= 30.0);
      CHECK(o.cosine > 0.999);
      if (not_classifiers.count(name) == 0) {
        CHECK(o.classification);
        CHECK(o.top1_agreement >= 0.99);
      }
      // The report said the same.
      const auto& reported = report->quality.outputs.at(&o - quality->outputs.data());
      CHECK(reported.snr_db == Approx(o.snr_db));
    }
  }
}

TEST_CASE("model quantize exits 0 written, 1 refused, 3 below a bar, 2 on usage", "[quantizer][cli]") {
  edge::testing::TempDir dir;
  const std::string model = ZooPath("mlp_anomaly.onnx"), calib = ZooPath("mlp_anomaly.calib.npy");
  const std::string out = (dir / "q.onnx").string();
  CHECK(RunModelCli({"quantize", model, "--calibration", calib, "--out", out, "--min-snr", "500"}) == 3);
  CHECK_FALSE(fs::exists(out));
  CHECK(RunModelCli({"quantize", model, "--calibration", calib, "--out", out, "--min-snr", "30", "--min-top1", "99"}) == 0);
  CHECK(fs::exists(out));
  CHECK(RunModelCli({"quantize", model, "--calibration", calib, "--out", out}) == 1);  // exists, no --force
  CHECK(RunModelCli({"quantize", model, "--calibration", calib, "--out", out, "--force", "--json",
                "--eval", ZooPath("mlp_anomaly.eval.npy")}) == 0);
  // A --force run that misses its bar writes nothing and removes nothing: the older file stays.
  const auto before = ReadFileBytes(out);
  CHECK(RunModelCli({"quantize", model, "--calibration", calib, "--out", out, "--force", "--min-snr", "500"}) == 3);
  REQUIRE(fs::exists(out));
  CHECK(ReadFileBytes(out) == before);
  CHECK(RunModelCli({"quantize", model, "--calibration", calib, "--out", out, "--min-top1", "101"}) == 2);
  // NaN would compare false with everything and silently turn a check off.
  for (const auto& bad : std::vector<std::vector<std::string>>{{"--percentile", "nan", "--method", "percentile"},
                                                               {"--percentile", "0"},
                                                               {"--percentile", "100.5"},
                                                               {"--min-snr", "nan"},
                                                               {"--min-snr", "inf"},
                                                               {"--min-top1", "nan"},
                                                               {"--min-top1", "-inf"}}) {
    std::vector<std::string> args = {"quantize", model, "--calibration", calib, "--out", out, "--force"};
    args.insert(args.end(), bad.begin(), bad.end());
    INFO(bad[0] + " " + bad[1]);
    CHECK(RunModelCli(args) == 2);
    CHECK(ReadFileBytes(out) == before);
  }
  CHECK(RunModelCli({"quantize", model, "--calibration", calib, "--out", ""}) == 2);
  // --min-snr 0 turns the default 20 dB bar off.
  CHECK(RunModelCli({"quantize", model, "--calibration", calib, "--out", out, "--force", "--min-snr", "0"}) == 0);
}

}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

// RunModelCli with its stdout captured.
std::pair<int, std::string> RunModelCliStdout(std::vector<std::string> args, const std::string& capture) {
  std::fflush(stdout);
  const int saved = ::dup(1);
  const int fd = ::open(capture.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  REQUIRE(fd >= 0);
  ::dup2(fd, 1);
  ::close(fd);
  const int rc = RunModelCli(std::move(args));
  std::fflush(stdout);
  ::dup2(saved, 1);
  ::close(saved);
  return {rc, ReadFileBytes(capture)};
}

}  // namespace

TEST_CASE("model quantize --json prints an error object for a refusal and names saturated biases", "[quantizer][cli]") {
  edge::testing::TempDir dir;
  const std::string model = ZooPath("mlp_anomaly.onnx");
  const std::string out = (dir / "q.onnx").string(), capture = (dir / "stdout.txt").string();
  auto [rc, text] = RunModelCliStdout(
      {"quantize", model, "--calibration", ZooPath("mlp_anomaly.calib.npy"), "--out", out, "--json", "--percentile", "nan"},
      capture);
  CHECK(rc == 2);
  auto j = nlohmann::json::parse(text);
  CHECK(j["written"] == false);
  CHECK_THAT(j["error"].get<std::string>(), Catch::Matchers::Contains("--percentile"));
  // Inputs scaled by 1e-6: the int32 biases saturate; the report names them, and the default
  // bar keeps the model from being written.
  NpyArray small = ReadOrDie(ZooPath("mlp_anomaly.calib.npy"));
  for (float& v : small.data) v *= 1e-6f;
  REQUIRE(WriteNpy((dir / "small.npy").string(), small).has_value());
  std::tie(rc, text) = RunModelCliStdout(
      {"quantize", model, "--calibration", (dir / "small.npy").string(), "--out", out, "--json"}, capture);
  CHECK(rc == 3);
  j = nlohmann::json::parse(text);
  CHECK(j["written"] == false);
  REQUIRE(j["saturated_biases"].size() > 0);
  CHECK_THAT(j["saturated_biases"][0].get<std::string>(), Catch::Matchers::Contains("'net.0.bias' channel"));
  CHECK_FALSE(fs::exists(out));
}

}  // namespace edge::engine::testing
