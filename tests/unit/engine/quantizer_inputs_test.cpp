// The quantizer on models with several inputs: a siamese-style pair of float inputs and a
// float input beside an int64 one, through the library and the `model quantize` command.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>

#include "agent/engine/quantizer/quantizer.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/core/temp_dir.h"
#include "tests/unit/engine/model_cli_support.h"
#include "tests/unit/engine/onnx_builder.h"

// Its own namespace: the unity build puts this file beside others with helpers of these names.
namespace edge::engine::testing::quantizer_inputs {
namespace {

using Catch::Matchers::Contains;

// `count` samples of `width` floats (stored as [count, width]); `whole` rounds them down to
// integers, as an int64 input's file holds them.
NpyArray Samples(int64_t count, float lo, float hi, unsigned seed, bool whole = false, int64_t width = 4) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  NpyArray a{{count, width}, std::vector<float>(static_cast<size_t>(count * width))};
  for (float& v : a.data) v = whole ? std::floor(dist(rng)) : dist(rng);
  return a;
}

// y = Gemm(Sub(x, b), W, bias): the change between two inputs of [1, 4], as a siamese change
// detector compares two frames.
onnx::ModelProto Difference() {
  Builder m(13);
  m.Input("x", {1, 4}).Input("b", {1, 4}).Output("y");
  m.Init("W", {3, 4}, {0.5f, -1.0f, 0.25f, 0.1f, 0.2f, 0.3f, -0.3f, 0.05f, 2.0f, 1.0f, -0.5f, 1.5f});
  m.Init("bias", {3}, {0.3f, -0.2f, 1.0f});
  m.Node("Sub", {"x", "b"}, {"d"});
  IntAttr(m.Node("Gemm", {"d", "W", "bias"}, {"y"}), "transB", 1);
  return m.proto();
}

// y = Gemm(x * Cast(k), W): a float feature vector weighted by int64 counts.
onnx::ModelProto Weighted() {
  Builder m(13);
  m.Input("x", {1, 4}).Input("k", {1, 4}, onnx::TensorProto::INT64).Output("y");
  m.Init("W", {2, 4}, {0.5f, -1.0f, 0.25f, 0.1f, 0.2f, 0.3f, -0.3f, 0.05f});
  IntAttr(m.Node("Cast", {"k"}, {"kf"}), "to", onnx::TensorProto::FLOAT);
  m.Node("Mul", {"x", "kf"}, {"xk"});
  IntAttr(m.Node("Gemm", {"xk", "W"}, {"y"}), "transB", 1);
  return m.proto();
}

std::string Save(const edge::testing::TempDir& dir, const std::string& name, const onnx::ModelProto& m) {
  return dir.Write(name, m.SerializeAsString()).string();
}

// How many nodes of `op` read `tensor` in the model at `path`.
int Readers(const std::string& path, const std::string& op, const std::string& tensor) {
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(m.ParseFromIstream(&in));
  int n = 0;
  for (const auto& node : m.graph().node()) {
    n += node.op_type() == op && node.input_size() > 0 && node.input(0) == tensor ? 1 : 0;
  }
  return n;
}

std::string Message(const Result<QuantizeReport>& r) { return r ? std::string() : r.error().message; }

// QuantizeModel with `eval` as the held-out data.
Result<QuantizeReport> Quantize(const std::string& model, const ModelSamples& calibration, const ModelSamples& eval,
                                const std::string& out, QuantizeOptions options = {}) {
  options.eval = eval;
  return QuantizeModel(model, calibration, out, options);
}

// The bound: x is uniform in [-1, 1] and b in [-3, 3], each rounded to 1/255 of its range
// (error variance step^2 / 12: 5.1e-6 and 4.6e-5), d = x - b to 1/255 of [-4, 4] (8.2e-5),
// against var(d) = 1/3 + 3 = 3.33: about 44 dB at d, and the Gemm (float: it writes the graph
// output) passes signal and error on alike: 45 dB measured. 35 dB leaves 10 dB for the
// sampling; data fed to the wrong input, or ranges from the wrong input's data, clip b's
// values to x's range and fall far below it (checked below).
constexpr double kTwoInputMinSnrDb = 35.0;

TEST_CASE("quantize takes a model of two float inputs end to end", "[quantizer][inputs]") {
  edge::testing::TempDir dir;
  const std::string model = Save(dir, "m.onnx", Difference()), out = (dir / "q.onnx").string();
  const NpyArray cx = Samples(200, -1, 1, 1), cb = Samples(200, -3, 3, 2);
  const NpyArray ex = Samples(100, -1, 1, 3), eb = Samples(100, -3, 3, 4);
  auto report = Quantize(model, ModelSamples({&cx, &cb}), ModelSamples({&ex, &eb}), out);
  INFO(Message(report));
  REQUIRE(report.has_value());
  CHECK(report->below_bar.empty());
  CHECK(report->samples == 200);
  CHECK(report->quality.samples == 100);
  REQUIRE(report->quality.outputs.size() == 1);
  CHECK(report->quality.outputs[0].snr_db > kTwoInputMinSnrDb);
  REQUIRE(report->int8_nodes.size() == 1);  // the Gemm writes the graph output: float by default
  CHECK(report->int8_nodes[0].op_type == "Sub");
  // Each input has its own Q -> DQ, from its own range.
  CHECK(Readers(out, "QuantizeLinear", "x") == 1);
  CHECK(Readers(out, "QuantizeLinear", "b") == 1);

  // The same figure from the files, and the inputs fed by position: the eval data swapped
  // puts b's [-3, 3] through x's [-1, 1] grid.
  auto again = MeasureQuality(model, out, ModelSamples({&ex, &eb}));
  REQUIRE(again.has_value());
  CHECK(again->outputs[0].snr_db == Approx(report->quality.outputs[0].snr_db));
  auto swapped = MeasureQuality(model, out, ModelSamples({&eb, &ex}));
  REQUIRE(swapped.has_value());
  CHECK(swapped->outputs[0].snr_db < 20.0);

  // Without --eval the same last 40 samples of both inputs are held out.
  auto held = QuantizeModel(model, ModelSamples({&cx, &cb}), (dir / "held.onnx").string(), {});
  INFO(Message(held));
  REQUIRE(held.has_value());
  CHECK(held->samples == 160);
  CHECK(held->quality.samples == 40);
  CHECK_THAT(held->quality.source, Contains("the last 40 of 200 calibration samples"));
  CHECK(held->quality.outputs[0].snr_db > kTwoInputMinSnrDb);

  // Eval data made of calibration samples is refused only when every input's part matches.
  const NpyArray shifted = Samples(200, -3, 3, 5);
  QuantizeOptions force;
  force.force = true;
  CHECK_THAT(Message(Quantize(model, ModelSamples({&cx, &cb}), ModelSamples({&cx, &cb}), out, force)),
             Contains("every --eval sample is also a calibration sample"));
  CHECK(Quantize(model, ModelSamples({&cx, &cb}), ModelSamples({&cx, &shifted}), out, force).has_value());
}

TEST_CASE("quantize refuses inputs whose sample counts differ naming both", "[quantizer][inputs][refusal]") {
  edge::testing::TempDir dir;
  const std::string model = Save(dir, "m.onnx", Difference()), out = (dir / "q.onnx").string();
  const NpyArray cx = Samples(200, -1, 1, 1), cb = Samples(150, -3, 3, 2);
  CHECK(Message(QuantizeModel(model, ModelSamples({&cx, &cb}, {"x.npy", "b.npy"}), out, {})) ==
        "calibration data for input 'b' (b.npy) has 150 samples but calibration data for input 'x' (x.npy) has 200: "
        "every input's data must hold the same samples, in the same order");
  // The eval files too, and the held-out split by itself.
  const NpyArray ex = Samples(100, -1, 1, 3), eb = Samples(90, -3, 3, 4);
  CHECK_THAT(Message(Quantize(model, ModelSamples({&cx, &cx}), ModelSamples({&ex, &eb}), out)),
             Contains("eval data for input 'b' has 90 samples but eval data for input 'x' has 100"));
  const std::vector<SampleLayout> layouts = {{200, 4}, {150, 4}};
  auto split = SplitHeldOut(ModelSamples({&cx, &cb}), layouts);
  REQUIRE_FALSE(split.has_value());
  CHECK_THAT(split.error().message, Contains("150 samples, input 0's 200"));
  CHECK_FALSE(std::filesystem::exists(out));
}

TEST_CASE("quantize refuses a wrong-shape or missing input file naming the input", "[quantizer][inputs][refusal]") {
  edge::testing::TempDir dir;
  const std::string model = Save(dir, "m.onnx", Difference()), out = (dir / "q.onnx").string();
  const NpyArray cx = Samples(200, -1, 1, 1), wide = Samples(200, -3, 3, 2, false, 5);
  CHECK(Message(QuantizeModel(model, ModelSamples({&cx, &wide}, {"x.npy", "wide.npy"}), out, {})) ==
        "calibration data for input 'b' (wide.npy) is [200, 5]; model input 'b' is [1, 4]: expected [N, 4]");
  CHECK(Message(QuantizeModel(model, ModelSamples({&cx}, {"x.npy"}), out, {})) ==
        "calibration data given for 1 input(s), but the model has 2: 'x' [1, 4], 'b' [1, 4]; give one file per "
        "input, in that order (the flag once per input)");
  // Too many files: the same refusal.
  CHECK_THAT(Message(QuantizeModel(model, ModelSamples({&cx, &cx, &cx}), out, {})),
             Contains("given for 3 input(s), but the model has 2"));
  CHECK_FALSE(std::filesystem::exists(out));
}

TEST_CASE("quantize takes an int64 input as whole numbers and leaves it unquantized", "[quantizer][inputs]") {
  edge::testing::TempDir dir;
  const std::string model = Save(dir, "m.onnx", Weighted()), out = (dir / "q.onnx").string();
  // Counts 0-3, and one count far above the rest: an id or a count is no outlier.
  NpyArray ck = Samples(200, 0, 4, 2, true);
  ck.data[17] = 1000;
  const NpyArray cx = Samples(200, -1, 1, 1), ex = Samples(100, -1, 1, 3), ek = Samples(100, 0, 4, 4, true);
  const ModelSamples eval({&ex, &ek});
  auto report = Quantize(model, ModelSamples({&cx, &ck}), eval, out);
  REQUIRE(report.has_value());
  // 1000 stretches the Cast's range to 1000 / 255 per step, so counts 1-3 round to 0 or one
  // step: the bar catches it, the data is taken.
  CHECK_FALSE(report->below_bar.empty());
  ck.data[17] = 3;
  report = Quantize(model, ModelSamples({&cx, &ck}), eval, out);
  INFO(Message(report));
  REQUIRE(report.has_value());
  // Counts 0-3 are exact on the Cast output's grid (3 / 255 per step, 1 = 85 steps); x's and
  // the product's rounding give about 43 dB, as in the two-float-input case.
  CHECK(report->quality.outputs[0].snr_db > kTwoInputMinSnrDb);
  CHECK(Readers(out, "QuantizeLinear", "x") == 1);
  CHECK(Readers(out, "QuantizeLinear", "k") == 0);  // integers get no QDQ
  CHECK(Readers(out, "Cast", "k") == 1);

  QuantizeOptions force;
  force.force = true;
  NpyArray fraction = ck;
  fraction.data[3 * 4 + 2] = 1.5f;
  CHECK(Message(Quantize(model, ModelSamples({&cx, &fraction}, {"x.npy", "k.npy"}), eval, out, force)) ==
        "calibration data for input 'k' (k.npy) is not whole numbers: sample 3 element 2 is 1.5, but input 'k' is "
        "int64 (the engine casts each float to it, dropping the fraction); give its integer values, stored as float32");
}

TEST_CASE("model quantize takes one --calibration and --eval per input in input order", "[quantizer][inputs][cli]") {
  edge::testing::TempDir dir;
  const std::string model = Save(dir, "m.onnx", Difference()), out = (dir / "q.onnx").string();
  const auto write = [&dir](const std::string& name, const NpyArray& a) {
    const std::string path = (dir / name).string();
    REQUIRE(WriteNpy(path, a).has_value());
    return path;
  };
  const std::string cx = write("cx.npy", Samples(200, -1, 1, 1)), cb = write("cb.npy", Samples(200, -3, 3, 2));
  const std::string ex = write("ex.npy", Samples(100, -1, 1, 3)), eb = write("eb.npy", Samples(100, -3, 3, 4));
  const std::string few = write("few.npy", Samples(150, -3, 3, 5));
  const std::string wide = write("wide.npy", Samples(200, 0, 1, 6, false, 5));
  CHECK(RunModelCli({"quantize", model, "--calibration", cx, "--calibration", cb, "--eval", ex, "--eval", eb,
                     "--out", out, "--min-snr", "35"}) == 0);
  CHECK(Readers(out, "QuantizeLinear", "b") == 1);
  // Without --eval, the held-out tail of both files.
  CHECK(RunModelCli({"quantize", model, "--calibration", cx, "--calibration", cb, "--out", out, "--force"}) == 0);
  // Refused (exit 1): a file short, sample counts that differ, a wrong shape, --eval for one input.
  CHECK(RunModelCli({"quantize", model, "--calibration", cx, "--out", out, "--force"}) == 1);
  CHECK(RunModelCli({"quantize", model, "--calibration", cx, "--calibration", few, "--out", out, "--force"}) == 1);
  CHECK(RunModelCli({"quantize", model, "--calibration", cx, "--calibration", wide, "--out", out, "--force"}) == 1);
  CHECK(RunModelCli({"quantize", model, "--calibration", cx, "--calibration", cb, "--eval", ex, "--out", out,
                     "--force"}) == 1);
  // --out is none of the files, whichever input's it is.
  const auto size = std::filesystem::file_size(cb);
  CHECK(RunModelCli({"quantize", model, "--calibration", cx, "--calibration", cb, "--out", cb, "--force"}) == 1);
  CHECK(std::filesystem::file_size(cb) == size);
  // One file per flag: a second value after one flag is a usage error (exit 2), not a file.
  CHECK(RunModelCli({"quantize", model, "--calibration", cx, cb, "--out", out, "--force"}) == 2);
}

}  // namespace
}  // namespace edge::engine::testing::quantizer_inputs
