// Every bad input issue 16 found the quantizer accepting, each refused with a message that
// names the problem, and with the model, the data and any existing output byte-for-byte as
// they were (the quantizer writes nothing on a refusal).
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>

#include "agent/engine/quantizer/quantizer.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/core/temp_dir.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

using Catch::Matchers::Contains;
namespace fs = std::filesystem;

std::string Bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A temp dir holding copies of a zoo model and its calibration data, with every file's bytes
// recorded so a test can check that a refusal left them all as they were.
class Workspace {
 public:
  explicit Workspace(const std::string& model) {
    fs::copy_file(ZooPath(model + ".onnx"), dir_ / "model.onnx");
    fs::copy_file(ZooPath(model + ".calib.npy"), dir_ / "calib.npy");
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }
  std::string Write(const std::string& name, const NpyArray& data) {
    REQUIRE(WriteNpy(Path(name), data).has_value());
    return Path(name);
  }
  std::string WriteFile(const std::string& name, const std::string& bytes) {
    std::ofstream(Path(name), std::ios::binary) << bytes;
    return Path(name);
  }
  void Snapshot() { before_ = Files(); }
  // The directory holds exactly the files it held at Snapshot(), with the same bytes.
  void CheckUntouched() const {
    const auto now = Files();
    CHECK(now.size() == before_.size());
    for (const auto& [name, bytes] : before_) {
      INFO(name);
      REQUIRE(now.count(name) == 1);
      CHECK(now.at(name) == bytes);
    }
  }

 private:
  std::map<std::string, std::string> Files() const {
    std::map<std::string, std::string> files;
    for (const auto& e : fs::recursive_directory_iterator(dir_.path())) {
      if (e.is_regular_file()) files[fs::relative(e.path(), dir_.path()).string()] = Bytes(e.path());
    }
    return files;
  }

  edge::testing::TempDir dir_;
  std::map<std::string, std::string> before_;
};

// Quantizes `model` in `ws` with `data`, expects a refusal whose message contains every
// fragment, and checks that nothing in the workspace changed.
void ExpectRefused(Workspace& ws, const std::string& model, const std::string& data_path, const std::string& out,
                   const std::vector<std::string>& fragments, QuantizeOptions options = {}) {
  ws.Snapshot();
  auto data = ReadNpy(data_path);
  REQUIRE(data.has_value());
  auto result = QuantizeModel(model, *data, out, options);
  REQUIRE_FALSE(result.has_value());
  INFO(result.error().message);
  CHECK(result.error().message.find('\n') == std::string::npos);  // one line
  for (const auto& f : fragments) CHECK_THAT(result.error().message, Contains(f));
  ws.CheckUntouched();
}

}  // namespace

TEST_CASE("quantize refuses all-NaN calibration data naming the sample and element", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  NpyArray nan = ReadOrDie(ws.Path("calib.npy"));
  for (float& v : nan.data) v = NAN;
  const auto data = ws.Write("nan.npy", nan);
  ExpectRefused(ws, ws.Path("model.onnx"), data, ws.Path("out.onnx"),
                {"calibration data is not finite", "sample 0 element 0 is NaN", "2048 of 2048"});

  // One Inf deep inside otherwise good data is named by its place.
  NpyArray one = ReadOrDie(ws.Path("calib.npy"));
  one.data[5 * 64 + 7] = -INFINITY;
  const auto one_path = ws.Write("inf.npy", one);
  ExpectRefused(ws, ws.Path("model.onnx"), one_path, ws.Path("out.onnx"), {"sample 5 element 7 is -Inf"});
}

TEST_CASE("quantize refuses all-zeros and single-valued calibration data", "[quantizer][refusal]") {
  Workspace ws("resnet8");
  NpyArray zeros = ReadOrDie(ws.Path("calib.npy"));
  std::fill(zeros.data.begin(), zeros.data.end(), 0.0f);
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Write("zeros.npy", zeros), ws.Path("out.onnx"),
                {"calibration data is constant", "values are 0"});
  std::fill(zeros.data.begin(), zeros.data.end(), 0.5f);
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Write("half.npy", zeros), ws.Path("out.onnx"), {"values are 0.5"});
}

TEST_CASE("quantize refuses transposed calibration data naming the model's layout", "[quantizer][refusal]") {
  Workspace ws("resnet8");
  const NpyArray nchw = ReadOrDie(ws.Path("calib.npy"));  // [32, 3, 32, 32]
  NpyArray nhwc;
  nhwc.shape = {32, 32, 32, 3};
  nhwc.data.resize(nchw.data.size());
  for (int64_t n = 0; n < 32; ++n)
    for (int64_t c = 0; c < 3; ++c)
      for (int64_t hw = 0; hw < 32 * 32; ++hw) nhwc.data[(n * 1024 + hw) * 3 + c] = nchw.data[(n * 3 + c) * 1024 + hw];
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Write("nhwc.npy", nhwc), ws.Path("out.onnx"),
                {"calibration data is [32, 32, 32, 3]; model input 'input' is [1, 3, 32, 32] (NCHW): expected "
                 "[N, 3, 32, 32] (the data looks transposed)"});
}

TEST_CASE("quantize refuses another model's calibration file whose size divides", "[quantizer][refusal]") {
  // sensor_conv1d's [32, 3, 128] is 192 whole inputs of mlp_anomaly's 64 floats.
  Workspace ws("mlp_anomaly");
  fs::copy_file(ZooPath("sensor_conv1d.calib.npy"), ws.Path("other.npy"));
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("other.npy"), ws.Path("out.onnx"),
                {"calibration data is [32, 3, 128]; model input", "is [1, 64]: expected [N, 64]"});
}

TEST_CASE("quantize refuses one sample x1e4 among 100 naming it", "[quantizer][refusal]") {
  Workspace ws("ds_cnn_kws");
  NpyArray data = ReadOrDie(ZooPath("ds_cnn_kws.eval.npy"));  // 100 samples
  const int64_t per = data.shape[1] * data.shape[2] * data.shape[3];
  for (int64_t i = 0; i < per; ++i) data.data[37 * per + i] *= 1e4f;
  const auto path = ws.Write("corrupt.npy", data);
  ExpectRefused(ws, ws.Path("model.onnx"), path, ws.Path("out.onnx"),
                {"1 outlier sample(s) (37)", "remove those samples from the calibration data", "--allow-outliers"});
  // The same data without the corrupted sample quantizes well.
  data.data.erase(data.data.begin() + 37 * per, data.data.begin() + 38 * per);
  data.shape[0] = 99;
  auto clean = QuantizeModel(ws.Path("model.onnx"), data, ws.Path("out.onnx"), {});
  INFO((clean ? "" : clean.error().message));
  REQUIRE(clean.has_value());
  CHECK(clean->quality.outputs.at(0).snr_db > 30.0);
}

TEST_CASE("quantize refuses --out that is its input, however the path is spelled", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  fs::create_directories(ws.Path("sub"));
  ws.WriteFile("sub/keep", "");
  QuantizeOptions force;
  force.force = true;  // not even with --force
  for (const auto& out : {ws.Path("model.onnx"), ws.Path("sub/../model.onnx"), ws.Path("./model.onnx")}) {
    INFO(out);
    ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), out, {"is the input model itself"}, force);
  }
  // A hard link is the same file under another name.
  fs::create_hard_link(ws.Path("model.onnx"), ws.Path("link.onnx"));
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), ws.Path("link.onnx"), {"is the input model itself"},
                force);
}

TEST_CASE("quantize refuses an existing --out without --force and replaces it with --force", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  const auto out = ws.WriteFile("existing.onnx", "someone's file");
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), out, {"already exists", "--force"});
  QuantizeOptions force;
  force.force = true;
  auto replaced = QuantizeModel(ws.Path("model.onnx"), ReadOrDie(ws.Path("calib.npy")), out, force);
  INFO((replaced ? "" : replaced.error().message));
  REQUIRE(replaced.has_value());
  LoadOrDie(out);
  // No temp file is left beside it.
  int files = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(fs::path(out).parent_path())) ++files;
  CHECK(files == 3);
}

TEST_CASE("quantize refuses an already-int8 model and leaves it untouched", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  fs::copy_file(ZooPath("mlp_anomaly.qdq.onnx"), ws.Path("int8.onnx"));
  ExpectRefused(ws, ws.Path("int8.onnx"), ws.Path("calib.npy"), ws.Path("out.onnx"),
                {"already quantized", "--requantize"});
}

TEST_CASE("quantize refuses a model in which nothing can be quantized", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  // mlp_anomaly's input [1, 64] straight into a Softmax: no node has an int8 form.
  onnx::ModelProto m;
  {
    std::ifstream in(ws.Path("model.onnx"), std::ios::binary);
    REQUIRE(m.ParseFromIstream(&in));
  }
  auto* g = m.mutable_graph();
  g->clear_node();
  g->clear_initializer();
  auto* n = g->add_node();
  n->set_name("scores");
  n->set_op_type("Softmax");
  n->add_input(g->input(0).name());
  n->add_output(g->output(0).name());
  std::string bytes;
  REQUIRE(m.SerializeToString(&bytes));
  const auto model = ws.WriteFile("softmax.onnx", bytes);
  ExpectRefused(ws, model, ws.Path("calib.npy"), ws.Path("out.onnx"),
                {"nothing to quantize", "'scores' (Softmax)"});
}

TEST_CASE("quantize below a --min-snr or --min-top1 bar writes nothing", "[quantizer][refusal]") {
  Workspace ws("resnet8");
  QuantizeOptions options;
  options.min_snr_db = 200.0;
  ws.Snapshot();
  auto report = QuantizeModel(ws.Path("model.onnx"), ReadOrDie(ws.Path("calib.npy")), ws.Path("out.onnx"), options);
  REQUIRE(report.has_value());
  CHECK_THAT(report->below_bar, Contains("SNR") && Contains("< --min-snr 200.0"));
  ws.CheckUntouched();
  options.min_snr_db = 20.0;
  options.min_top1_percent = 99.0;
  report = QuantizeModel(ws.Path("model.onnx"), ReadOrDie(ws.Path("calib.npy")), ws.Path("out.onnx"), options);
  REQUIRE(report.has_value());
  CHECK(report->below_bar.empty());
  CHECK(fs::exists(ws.Path("out.onnx")));
}

}  // namespace edge::engine::testing

namespace edge::engine::testing {

TEST_CASE("quantize refuses --eval data that is the calibration data itself", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  fs::copy_file(ws.Path("calib.npy"), ws.Path("eval.npy"));
  const NpyArray eval = ReadOrDie(ws.Path("eval.npy"));
  QuantizeOptions options;
  options.eval = &eval;
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), ws.Path("out.onnx"),
                {"every --eval sample is also a calibration sample"}, options);
  // Partly shared: measured, and the report says so.
  NpyArray mixed = ReadOrDie(ZooPath("mlp_anomaly.eval.npy"));
  std::copy(eval.data.begin(), eval.data.begin() + 3 * 64, mixed.data.begin());
  options.eval = &mixed;
  auto report = QuantizeModel(ws.Path("model.onnx"), eval, ws.Path("out.onnx"), options);
  REQUIRE(report.has_value());
  CHECK_THAT(report->quality.source, Contains("(3 of them also calibration samples)"));
}

}  // namespace edge::engine::testing

namespace edge::engine::testing {

TEST_CASE("quantize refuses --out that is empty, a directory, or the calibration or eval file", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  fs::create_directories(ws.Path("sub"));
  ws.WriteFile("sub/keep", "");
  fs::copy_file(ZooPath("mlp_anomaly.eval.npy"), ws.Path("eval.npy"));
  const NpyArray eval = ReadOrDie(ws.Path("eval.npy"));
  QuantizeOptions options;
  options.force = true;  // none of these even with --force
  options.calibration_path = ws.Path("calib.npy");
  options.eval_path = ws.Path("eval.npy");
  options.eval = &eval;
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), "", {"--out is empty"}, options);
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), ws.Path("sub"), {"is a directory"}, options);
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), ws.Path("sub/"), {"is a directory"}, options);
  fs::create_symlink(ws.Path("calib.npy"), ws.Path("calib-link.npy"));
  fs::create_hard_link(ws.Path("eval.npy"), ws.Path("eval-hard.npy"));
  for (const auto& out : {ws.Path("calib.npy"), ws.Path("sub/../calib.npy"), ws.Path("calib-link.npy")}) {
    INFO(out);
    ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), out, {"is the --calibration data file"}, options);
  }
  for (const auto& out : {ws.Path("eval.npy"), ws.Path("./eval.npy"), ws.Path("eval-hard.npy")}) {
    INFO(out);
    ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), out, {"is the --eval data file"}, options);
  }
  CHECK(fs::is_symlink(ws.Path("calib-link.npy")));
}

TEST_CASE("quantize without --force refuses a dangling symlink at --out", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  fs::create_symlink(ws.Path("nowhere.onnx"), ws.Path("out.onnx"));
  ExpectRefused(ws, ws.Path("model.onnx"), ws.Path("calib.npy"), ws.Path("out.onnx"), {"already exists", "--force"});
  CHECK(fs::is_symlink(fs::symlink_status(ws.Path("out.onnx"))));
  CHECK_FALSE(fs::exists(ws.Path("nowhere.onnx")));
}

TEST_CASE("quantize with --force that misses a bar leaves an existing --out as it was", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  ws.WriteFile("out.onnx", "the user's older model");
  QuantizeOptions options;
  options.force = true;
  options.min_snr_db = 500.0;
  ws.Snapshot();
  auto report = QuantizeModel(ws.Path("model.onnx"), ReadOrDie(ws.Path("calib.npy")), ws.Path("out.onnx"), options);
  REQUIRE(report.has_value());
  CHECK_THAT(report->below_bar, Contains("< --min-snr 500.0"));
  ws.CheckUntouched();
}

}  // namespace edge::engine::testing

namespace edge::engine::testing {

TEST_CASE("quantize misses the default 20 dB bar on a ruined model and writes nothing", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  const QuantizeOptions defaults;
  REQUIRE(defaults.min_snr_db == kDefaultMinSnrDb);
  // Half the samples x1e4, calibrated on anyway: every range stretched 1e4-fold.
  NpyArray data = ReadOrDie(ZooPath("mlp_anomaly.eval.npy"));
  for (int64_t s = 0; s < data.shape[0]; s += 2)
    for (int64_t i = 0; i < 64; ++i) data.data[s * 64 + i] *= 1e4f;
  QuantizeOptions outliers;
  outliers.allow_outliers = true;
  // --percentile 50: each range keeps only the middle half of the values.
  QuantizeOptions median;
  median.method = CalibrationMethod::kPercentile;
  median.percentile = 50.0;
  const NpyArray calib = ReadOrDie(ws.Path("calib.npy"));
  for (const auto& [options, samples] : {std::pair<QuantizeOptions, const NpyArray*>{outliers, &data}, {median, &calib}}) {
    ws.Snapshot();
    auto report = QuantizeModel(ws.Path("model.onnx"), *samples, ws.Path("out.onnx"), options);
    REQUIRE(report.has_value());
    CHECK_THAT(report->below_bar, Contains("< --min-snr 20.0"));
    ws.CheckUntouched();
    CHECK_FALSE(fs::exists(ws.Path("out.onnx")));
    // The bar turned off explicitly: written, with the poor figures in the report.
    QuantizeOptions off = options;
    off.min_snr_db = std::nullopt;
    report = QuantizeModel(ws.Path("model.onnx"), *samples, ws.Path("out.onnx"), off);
    REQUIRE(report.has_value());
    CHECK(report->below_bar.empty());
    CHECK(report->quality.outputs.at(0).snr_db < 20.0);
    fs::remove(ws.Path("out.onnx"));
  }
}

}  // namespace edge::engine::testing

namespace edge::engine::testing {

TEST_CASE("quantize refuses calibration data too small to quantize naming the tensor", "[quantizer][refusal]") {
  Workspace ws("mlp_anomaly");
  NpyArray data = ReadOrDie(ws.Path("calib.npy"));
  for (float& v : data.data) v *= 1e-42f;  // denormals: the int8 scale and the bias scale underflow
  const auto path = ws.Write("denorm.npy", data);
  ExpectRefused(ws, ws.Path("model.onnx"), path, ws.Path("out.onnx"),
                {"tensor 'input'", "too small to quantize", "below 1e-30"});
}

}  // namespace edge::engine::testing

namespace edge::engine::testing {

// A version 1.0 .npy with `shape` written verbatim into the header and `values` floats.
std::string RawNpy(const std::string& shape, size_t values) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string bytes = std::string("\x93NUMPY\x01\x00", 8);
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  bytes += std::string(values * 4, '\0');
  return bytes;
}

TEST_CASE("ReadNpy refuses a negative dimension in the header naming it", "[quantizer][refusal][npy]") {
  Workspace ws("mlp_anomaly");
  for (const auto& [shape, values] : {std::pair{std::string("(-1, 64)"), size_t{64}},
                                      std::pair{std::string("(-2, 64)"), size_t{128}},
                                      std::pair{std::string("(1, -64)"), size_t{64}}}) {
    INFO(shape);
    const auto path = ws.WriteFile("neg.npy", RawNpy(shape, values));
    auto read = ReadNpy(path);
    REQUIRE_FALSE(read.has_value());
    CHECK_THAT(read.error().message, Contains(path) && Contains("header shape") && Contains("negative dimension"));
  }
  // Ordinary shapes still read: 2-D, 1-D with its trailing comma, a scalar.
  for (const auto& [shape, values] : {std::pair{std::string("(2, 64)"), size_t{128}},
                                      std::pair{std::string("(64,)"), size_t{64}},
                                      std::pair{std::string("()"), size_t{1}}}) {
    INFO(shape);
    auto read = ReadNpy(ws.WriteFile("ok.npy", RawNpy(shape, values)));
    INFO((read ? "" : read.error().message));
    REQUIRE(read.has_value());
    CHECK(read->data.size() == values);
  }
}

}  // namespace edge::engine::testing
