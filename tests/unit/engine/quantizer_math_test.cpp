// The quantizer's arithmetic on graphs small enough to check by hand: calibration ranges,
// per-channel weight scales, int32 bias rounding, graph outputs kept float, Gemm alpha/beta,
// and the sample checks and quality figures behind its refusals and report.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "agent/engine/quantizer/quantizer.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/core/temp_dir.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"

namespace edge::engine::testing {
namespace {

void SetShape(onnx::ValueInfoProto* v, const std::string& name, std::vector<int64_t> dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) t->mutable_shape()->add_dim()->set_dim_value(d);
}


// x [1, 4] -> Gemm(W [3, 4], transB, b [3], alpha, beta) -> h -> Relu -> y [1, 3].
onnx::ModelProto GemmRelu(const std::vector<float>& w, const std::vector<float>& b, float alpha = 1.0f,
                          float beta = 1.0f) {
  onnx::ModelProto m;
  m.set_ir_version(7);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  SetShape(g->add_input(), "x", {1, 4});
  SetShape(g->add_output(), "y", {1, 3});
  FloatInit(g, "W", {3, 4}, w);
  FloatInit(g, "b", {3}, b);
  auto* gemm = g->add_node();
  gemm->set_name("fc");
  gemm->set_op_type("Gemm");
  for (const char* in : {"x", "W", "b"}) gemm->add_input(in);
  gemm->add_output("h");
  auto add_attr = [gemm](const char* name, float f, int64_t i, bool is_int) {
    auto* a = gemm->add_attribute();
    a->set_name(name);
    if (is_int) {
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(i);
    } else {
      a->set_type(onnx::AttributeProto::FLOAT);
      a->set_f(f);
    }
  };
  add_attr("transB", 0, 1, true);
  if (alpha != 1.0f) add_attr("alpha", alpha, 0, false);
  if (beta != 1.0f) add_attr("beta", beta, 0, false);
  auto* relu = g->add_node();
  relu->set_name("act");
  relu->set_op_type("Relu");
  relu->add_input("h");
  relu->add_output("y");
  return m;
}

const std::vector<float> kW = {0.5f, -1.0f, 0.25f, 0.0f,  // row 0: |max| 1
                               0.1f, 0.2f, -0.3f, 0.05f,  // row 1: |max| 0.3
                               2.0f, 1.0f, -0.5f, 1.5f};  // row 2: |max| 2
const std::vector<float> kB = {0.3f, -0.2f, 1.0f};

std::string Save(const edge::testing::TempDir& dir, const std::string& name, const onnx::ModelProto& m) {
  const std::string path = (dir / name).string();
  std::ofstream out(path, std::ios::binary);
  REQUIRE(m.SerializeToOstream(&out));
  return path;
}

onnx::ModelProto Load(const std::string& path) {
  onnx::ModelProto m;
  std::ifstream in(path, std::ios::binary);
  REQUIRE(m.ParseFromIstream(&in));
  return m;
}

const onnx::TensorProto& Init(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& t : m.graph().initializer())
    if (t.name() == name) return t;
  FAIL("no initializer " << name);
  throw;
}

std::vector<float> FloatData(const onnx::TensorProto& t) {
  std::vector<float> v(t.float_data().begin(), t.float_data().end());
  if (t.has_raw_data()) {
    v.resize(t.raw_data().size() / 4);
    std::memcpy(v.data(), t.raw_data().data(), t.raw_data().size());
  }
  return v;
}

// `count` samples of [1, width] (stored as [count, width]), uniform in [lo, hi].
NpyArray Uniform(int64_t count, float lo, float hi, unsigned seed = 7, int64_t width = 4) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  NpyArray a;
  a.shape = {count, width};
  for (int64_t i = 0; i < count * width; ++i) a.data.push_back(dist(rng));
  return a;
}

// QuantizeModel of `m` (one input of [1, width]) saved in `dir` (m.onnx -> q.onnx): 400 uniform
// calibration samples, the report on 200 others.
Result<QuantizeReport> QuantizeUniform(const edge::testing::TempDir& dir, const onnx::ModelProto& m,
                                       QuantizeOptions options, int64_t width = 4) {
  const NpyArray eval = Uniform(200, -1.0f, 1.0f, 11, width);
  options.eval = &eval;
  return QuantizeModel(Save(dir, "m.onnx", m), Uniform(400, -1.0f, 1.0f, 7, width), (dir / "q.onnx").string(),
                       options);
}

// QuantizeUniform, which must succeed.
QuantizeReport QuantizeOk(const edge::testing::TempDir& dir, const onnx::ModelProto& m, const QuantizeOptions& options,
                          int64_t width = 4) {
  auto report = QuantizeUniform(dir, m, options, width);
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  return *report;
}

// Quantizes `m` (one input of [1, 8]) to dir/q.onnx with its outputs quantized too.
QuantizeReport QuantizeWide(const edge::testing::TempDir& dir, const onnx::ModelProto& m) {
  QuantizeOptions options;
  options.quantize_outputs = true;
  return QuantizeOk(dir, m, options, 8);
}

std::string ProducerOf(const onnx::ModelProto& m, const std::string& tensor) {
  for (const auto& n : m.graph().node())
    for (const auto& o : n.output())
      if (o == tensor) return n.op_type();
  return "";
}

}  // namespace

TEST_CASE("calibration ranges are the min and max of every tensor, percentile trims a tail", "[quantizer]") {
  edge::testing::TempDir dir;
  const auto model = Save(dir, "m.onnx", GemmRelu(kW, kB));
  NpyArray data = Uniform(50, -1.0f, 1.0f);
  data.data[17] = 40.0f;  // one value far out
  auto ranges = CalibrateRanges(model, data, {});
  REQUIRE(ranges.has_value());
  std::map<std::string, TensorRange> r(ranges->begin(), ranges->end());
  const auto [lo, hi] = std::minmax_element(data.data.begin(), data.data.end());
  CHECK(r.at("x").lo == *lo);
  CHECK(r.at("x").hi == 40.0f);
  CHECK(r.at("y").lo == 0.0f);  // after the Relu
  CHECK(r.at("y").hi > 0.0f);
  QuantizeOptions percentile;
  percentile.method = CalibrationMethod::kPercentile;
  percentile.percentile = 99.0;
  auto trimmed = CalibrateRanges(model, data, percentile);
  REQUIRE(trimmed.has_value());
  std::map<std::string, TensorRange> t(trimmed->begin(), trimmed->end());
  CHECK(t.at("x").hi < 2.0f);  // the single 40 is in the trimmed 1 %
  CHECK(t.at("x").lo <= -0.9f);
}

TEST_CASE("weights get one symmetric scale per output channel and biases int32 in s_x * s_w", "[quantizer]") {
  edge::testing::TempDir dir;
  const auto model = Save(dir, "m.onnx", GemmRelu(kW, kB));
  const auto out = (dir / "q.onnx").string();
  const NpyArray eval = Uniform(20, -1.0f, 1.0f, 11);
  QuantizeOptions options;
  options.eval = &eval;
  auto report = QuantizeModel(model, Uniform(40, -1.0f, 1.0f), out, options);
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  const auto q = Load(out);
  const auto w_scale = FloatData(Init(q, "W_scale"));
  REQUIRE(w_scale.size() == 3);
  CHECK(w_scale[0] == 1.0f / 127.0f);
  CHECK(w_scale[1] == 0.3f / 127.0f);
  CHECK(w_scale[2] == 2.0f / 127.0f);
  const auto& wq = Init(q, "W_quantized");
  REQUIRE(wq.data_type() == onnx::TensorProto::INT8);
  const std::string& raw = wq.raw_data();
  REQUIRE(raw.size() == 12);
  for (size_t k = 0; k < 12; ++k) {
    INFO(k);
    CHECK(static_cast<int8_t>(raw[k]) == static_cast<int8_t>(std::nearbyint(kW[k] / w_scale[k / 4])));
  }
  CHECK(static_cast<int8_t>(raw[1]) == -127);  // each row's largest |w| is exactly +-127
  const float x_scale = FloatData(Init(q, "x_scale")).at(0);
  const auto& bq = Init(q, "b_quantized");
  REQUIRE(bq.data_type() == onnx::TensorProto::INT32);
  const auto b_scale = FloatData(Init(q, "b_scale"));
  for (int c = 0; c < 3; ++c) {
    INFO(c);
    CHECK(b_scale[c] == x_scale * w_scale[c]);
    // Rounded to nearest: the int32 bias is within half a step of the float bias.
    CHECK(bq.int32_data(c) == static_cast<int32_t>(std::nearbyint(double(kB[c]) / b_scale[c])));
    CHECK(std::abs(bq.int32_data(c) * double(b_scale[c]) - kB[c]) <= 0.5 * b_scale[c]);
  }
  CHECK(report->quality.outputs.at(0).snr_db > 30.0);
}

TEST_CASE("a float node that writes a graph output is reported with its op's own reason first", "[quantizer]") {
  edge::testing::TempDir dir;
  // The Relu writing 'y' becomes a Sum: it has no int8 form, graph output or not.
  onnx::ModelProto m = GemmRelu(kW, kB);
  for (auto& n : *m.mutable_graph()->mutable_node())
    if (n.name() == "act") n.set_op_type("Sum");
  const auto model = Save(dir, "m.onnx", m);
  const NpyArray eval = Uniform(20, -1.0f, 1.0f, 11);
  QuantizeOptions options;
  options.eval = &eval;
  options.min_snr_db = std::nullopt;  // the report is what this test reads
  auto report = QuantizeModel(model, Uniform(40, -1.0f, 1.0f), (dir / "q.onnx").string(), options);
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  REQUIRE(report->float_nodes.size() == 1);
  CHECK(report->float_nodes[0].name == "act");
  CHECK(report->float_nodes[0].reason == "no int8 form of Sum in the engine");
}

TEST_CASE("graph outputs stay float unless --quantize-outputs, and the report says so", "[quantizer]") {
  edge::testing::TempDir dir;
  const auto model = Save(dir, "m.onnx", GemmRelu(kW, kB));
  const NpyArray eval = Uniform(20, -1.0f, 1.0f, 11);
  QuantizeOptions options;
  options.eval = &eval;
  auto kept = QuantizeModel(model, Uniform(40, -1.0f, 1.0f), (dir / "kept.onnx").string(), options);
  REQUIRE(kept.has_value());
  // The Gemm runs in int8 and its output is quantized; the Relu writing 'y' stays float.
  CHECK(ProducerOf(Load((dir / "kept.onnx").string()), "y") == "Relu");
  REQUIRE(kept->float_nodes.size() == 1);
  CHECK(kept->float_nodes[0].name == "act");
  CHECK_THAT(kept->float_nodes[0].reason, Catch::Matchers::Contains("graph output 'y'"));
  options.quantize_outputs = true;
  auto quantized = QuantizeModel(model, Uniform(40, -1.0f, 1.0f), (dir / "all.onnx").string(), options);
  REQUIRE(quantized.has_value());
  CHECK(ProducerOf(Load((dir / "all.onnx").string()), "y") == "DequantizeLinear");
  CHECK(quantized->float_nodes.empty());
  // Held-out data beyond the calibration range: the float output follows it, the int8 output
  // is clipped at the calibrated range.
  const NpyArray wide = Uniform(20, -3.0f, 3.0f, 5);
  options.eval = &wide;
  options.force = true;
  options.quantize_outputs = false;
  auto kept_wide = QuantizeModel(model, Uniform(40, -1.0f, 1.0f), (dir / "kept.onnx").string(), options);
  options.quantize_outputs = true;
  auto clipped_wide = QuantizeModel(model, Uniform(40, -1.0f, 1.0f), (dir / "all.onnx").string(), options);
  REQUIRE(kept_wide.has_value());
  REQUIRE(clipped_wide.has_value());
  CHECK(kept_wide->quality.outputs[0].max_abs_error < clipped_wide->quality.outputs[0].max_abs_error);
}

TEST_CASE("a Gemm with alpha and beta != 1 is quantized with them folded into B and C", "[quantizer]") {
  edge::testing::TempDir dir;
  const auto model = Save(dir, "m.onnx", GemmRelu(kW, kB, 0.5f, 2.0f));
  const NpyArray eval = Uniform(20, -1.0f, 1.0f, 11);
  QuantizeOptions options;
  options.eval = &eval;
  auto report = QuantizeModel(model, Uniform(40, -1.0f, 1.0f), (dir / "q.onnx").string(), options);
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  CHECK(report->int8_nodes.size() == 1);
  const auto q = Load((dir / "q.onnx").string());
  for (const auto& n : q.graph().node()) {
    if (n.op_type() != "Gemm") continue;
    for (const auto& a : n.attribute()) CHECK((a.name() != "alpha" && a.name() != "beta"));
  }
  CHECK(FloatData(Init(q, "W_scale")).at(2) == 1.0f / 127.0f);  // 0.5 x 2
  CHECK(report->quality.outputs.at(0).snr_db > 30.0);
}

TEST_CASE("PRelu (one slope, per channel), Split, GlobalMaxPool and Slice are quantized",
          "[quantizer]") {
  // x [1, 4] -> Gemm -> [1, 8] -> PRelu -> Reshape [1, 2, 4] -> Split(axis 1) -> a, b;
  // GlobalMaxPool(a) -> y0 [1, 1, 1], Slice(b, axis 2, 1..3) -> y1 [1, 1, 2].
  auto build = [](const std::vector<float>& slope, const std::vector<int64_t>& slope_shape) {
    Builder b(13);
    b.Input("x", {1, 4}).Output("y0").Output("y1");
    std::vector<float> w(32);
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i * 7 % 11) - 5) * 0.1f;
    b.Init("W", {8, 4}, w).Init("bias", {8}, {0.1f, -0.2f, 0.3f, 0.0f, -0.1f, 0.2f, 0.05f, -0.3f});
    b.Init("slope", slope_shape, slope);
    b.InitInts("shape", {3}, {1, 2, 4}, onnx::TensorProto::INT64);
    b.InitInts("starts", {1}, {1}, onnx::TensorProto::INT64).InitInts("ends", {1}, {3}, onnx::TensorProto::INT64);
    b.InitInts("axes", {1}, {2}, onnx::TensorProto::INT64);
    IntAttr(b.Node("Gemm", {"x", "W", "bias"}, {"h"}), "transB", 1);
    b.Node("Reshape", {"h", "shape"}, {"r"});
    b.Node("PRelu", {"r", "slope"}, {"p"});
    IntAttr(b.Node("Split", {"p"}, {"a", "c"}), "axis", 1);
    b.Node("GlobalMaxPool", {"a"}, {"y0"});
    b.Node("Slice", {"c", "starts", "ends", "axes"}, {"y1"});
    return b.proto();
  };
  edge::testing::TempDir dir;
  QuantizeOptions options;
  options.quantize_outputs = true;
  auto quantize = [&](const std::vector<float>& slope, const std::vector<int64_t>& slope_shape) {
    auto report = QuantizeUniform(dir, build(slope, slope_shape), options);
    INFO((report ? "" : report.error().message));
    REQUIRE(report.has_value());
    return *report;
  };
  SECTION("one slope: every node in int8") {
    const auto report = quantize({0.25f, 0.25f}, {2, 1});
    CHECK(report.below_bar.empty());
    CHECK(report.float_nodes.empty());
    CHECK(report.int8_nodes.size() == 6);
    const auto q = Load((dir / "q.onnx").string());
    CHECK(ProducerOf(q, "y0") == "DequantizeLinear");
    CHECK(ProducerOf(q, "y1") == "DequantizeLinear");
    for (const auto& out : report.quality.outputs) CHECK(out.snr_db > 30.0);
    auto engine = Model::LoadFile((dir / "q.onnx").string());
    REQUIRE(engine.has_value());
    CHECK((*engine)->is_quantized());
  }
  SECTION("a slope per channel: every node in int8 too, one lookup table per channel") {
    const auto report = quantize({0.25f, 0.5f}, {2, 1});
    CHECK(report.float_nodes.empty());
    for (const auto& out : report.quality.outputs) CHECK(out.snr_db > 30.0);
  }
  SECTION("slopes varying along two axes: PRelu stays float and the report says why") {
    const auto report = quantize({0.25f, 0.5f, 0.1f, 0.2f, 0.3f, 0.4f, 0.6f, 0.7f}, {2, 4});
    REQUIRE(report.float_nodes.size() == 1);
    CHECK(report.float_nodes[0].op_type == "PRelu");
    CHECK_THAT(report.float_nodes[0].reason, Catch::Matchers::Contains("vary along more than one axis"));
    for (const auto& out : report.quality.outputs) CHECK(out.snr_db > 30.0);
  }
}

TEST_CASE("a nearest Resize passes its input's parameters on, a linear one stays float and says why", "[quantizer]") {
  // x [1, 8] -> Gemm -> Reshape [1, 2, 2, 2] -> Resize nearest x2 -> y0, and Resize linear x2 -> y1.
  Builder b(13);
  b.Input("x", {1, 8}).Output("y0").Output("y1");
  std::vector<float> w(64);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i * 5 % 13) - 6) * 0.1f;
  b.Init("W", {8, 8}, w).Init("scales", {4}, {1, 1, 2, 2});
  b.InitInts("shape", {4}, {1, 2, 2, 2}, onnx::TensorProto::INT64);
  b.Node("Gemm", {"x", "W"}, {"h"});
  b.Node("Reshape", {"h", "shape"}, {"r"});
  b.Node("Resize", {"r", "", "scales"}, {"y0"});
  StrAttr(b.Node("Resize", {"r", "", "scales"}, {"y1"}), "mode", "linear");
  edge::testing::TempDir dir;
  const auto report = QuantizeWide(dir, b.proto());
  REQUIRE(report.float_nodes.size() == 1);
  CHECK(report.float_nodes[0].op_type == "Resize");
  CHECK_THAT(report.float_nodes[0].reason, Catch::Matchers::Contains("linear mode"));
  const auto q = Load((dir / "q.onnx").string());
  CHECK(ProducerOf(q, "y0") == "DequantizeLinear");
  for (const auto& out : report.quality.outputs) CHECK(out.snr_db > 30.0);
  auto engine = Model::LoadFile((dir / "q.onnx").string());
  REQUIRE(engine.has_value());
  bool int8_resize = false;
  std::string steps;
  for (const auto& step : (*engine)->StepSummary()) {
    int8_resize = int8_resize || step.find("(int8, nearest)") != std::string::npos;
    steps += step + "\n";
  }
  INFO(steps);
  CHECK(int8_resize);
}

TEST_CASE("DepthToSpace SpaceToDepth Gather and Expand pass their input's parameters on", "[quantizer]") {
  // x [1, 8] -> Gemm -> h [1, 16] -> Reshape [1, 4, 2, 2] -> DepthToSpace (CRD) -> d [1, 1, 4, 4]
  //   -> SpaceToDepth -> s [1, 4, 2, 2] -> Gather(axis 1, [3, 0, 2]) -> y0 [1, 3, 2, 2];
  // h -> Gather(axis 1, 5) -> g [1] -> Expand [2, 3] -> y1. Every node in int8, one set of parameters.
  Builder b(13);
  b.Input("x", {1, 8}).Output("y0").Output("y1");
  std::vector<float> w(128);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i * 5 % 13) - 6) * 0.1f;
  b.Init("W", {16, 8}, w);
  b.InitInts("shape", {4}, {1, 4, 2, 2}, onnx::TensorProto::INT64);
  b.InitInts("to", {2}, {2, 3}, onnx::TensorProto::INT64);
  b.InitInts("picks", {3}, {3, 0, 2}, onnx::TensorProto::INT64).InitInts("five", {}, {5}, onnx::TensorProto::INT64);
  IntAttr(b.Node("Gemm", {"x", "W"}, {"h"}), "transB", 1);
  b.Node("Reshape", {"h", "shape"}, {"r"});
  auto* d2s = b.Node("DepthToSpace", {"r"}, {"d"});
  IntAttr(d2s, "blocksize", 2);
  StrAttr(d2s, "mode", "CRD");
  IntAttr(b.Node("SpaceToDepth", {"d"}, {"s"}), "blocksize", 2);
  IntAttr(b.Node("Gather", {"s", "picks"}, {"y0"}), "axis", 1);
  IntAttr(b.Node("Gather", {"h", "five"}, {"g"}), "axis", 1);
  b.Node("Expand", {"g", "to"}, {"y1"});
  edge::testing::TempDir dir;
  const auto report = QuantizeWide(dir, b.proto());
  CHECK(report.float_nodes.empty());
  CHECK(report.int8_nodes.size() == 7);
  const auto q = Load((dir / "q.onnx").string());
  CHECK(ProducerOf(q, "y0") == "DequantizeLinear");
  CHECK(ProducerOf(q, "y1") == "DequantizeLinear");
  // Every QuantizeLinear after the Gemm's uses the Gemm output's scale (the input x has its own).
  std::set<float> scales;
  int quantized = 0;
  for (const auto& n : q.graph().node()) {
    if (n.op_type() != "QuantizeLinear" || n.input(0) == "x") continue;
    scales.insert(FloatData(Init(q, n.input(1)))[0]);
    ++quantized;
  }
  CHECK(quantized == 7);  // h, r, d, s, y0, g, y1
  CHECK(scales.size() == 1);
  for (const auto& out : report.quality.outputs) CHECK(out.snr_db > 30.0);
  auto engine = Model::LoadFile((dir / "q.onnx").string());
  REQUIRE(engine.has_value());
  // Each movement op one int8 step, no DequantizeLinear but the outputs'.
  int moves = 0, dequantize = 0;
  for (const auto& step : (*engine)->StepSummary()) {
    INFO(step);
    for (const char* op : {"DepthToSpace ", "SpaceToDepth ", "Gather ", "Expand "}) {
      if (step.rfind(op, 0) != 0) continue;
      ++moves;
      CHECK_THAT(step, Catch::Matchers::Contains("(int8"));
    }
    dequantize += step.rfind("DequantizeLinear ", 0) == 0 ? 1 : 0;
  }
  CHECK(moves == 5);
  CHECK(dequantize == 2);
}


TEST_CASE("shape arithmetic as PyTorch exports it (torch.chunk, F.pad) stays out of the int8 graph", "[quantizer]") {
  // x [1, 8] -> Gemm (identity) -> Relu -> r; the Slice's start is Shape(r)[1] / 2 as torch.chunk
  // writes it, and the Pad's pads come from a Transpose of a constant as F.pad writes them:
  // y0 = r[:, 4:8], y1 = y0 with 1 column before it and 2 after.
  Builder b(13);
  b.Input("x", {1, 8}).Output("y0").Output("y1");
  std::vector<float> eye(64, 0.0f);
  for (int i = 0; i < 8; ++i) eye[i * 9] = 1.0f;
  b.Init("W", {8, 8}, eye);
  b.InitInts("one", {}, {1}, onnx::TensorProto::INT64).InitInts("two", {}, {2}, onnx::TensorProto::INT64);
  b.InitInts("as_1d", {1}, {1}, onnx::TensorProto::INT64).InitInts("flat", {1}, {4}, onnx::TensorProto::INT64);
  b.InitInts("ends", {1}, {8}, onnx::TensorProto::INT64).InitInts("axes", {1}, {1}, onnx::TensorProto::INT64);
  b.InitInts("pad_pairs", {2, 2}, {0, 0, 1, 2}, onnx::TensorProto::INT64);  // [begin, end] per axis
  b.Node("Gemm", {"x", "W"}, {"h"});
  b.Node("Relu", {"h"}, {"r"});
  b.Node("Shape", {"r"}, {"shape"});
  b.Node("Gather", {"shape", "one"}, {"width"});
  b.Node("Div", {"width", "two"}, {"half"});
  b.Node("Reshape", {"half", "as_1d"}, {"starts"});
  b.Node("Slice", {"r", "starts", "ends", "axes"}, {"y0"});
  b.Node("Transpose", {"pad_pairs"}, {"pads_2d"});
  b.Node("Reshape", {"pads_2d", "flat"}, {"pads_i"});
  IntAttr(b.Node("Cast", {"pads_i"}, {"pads"}), "to", onnx::TensorProto::INT64);
  b.Node("Pad", {"y0", "pads"}, {"y1"});
  edge::testing::TempDir dir;
  const std::string fp32 = Save(dir, "m.onnx", b.proto());
  auto engine = Model::LoadFile(fp32);  // the engine folds both chains at load
  INFO((engine ? "" : engine.error().message));
  REQUIRE(engine.has_value());
  const std::vector<float> x = {-1.0f, 2.0f, -3.0f, 4.0f, 0.5f, -0.25f, 0.75f, 1.0f};
  const auto ys = RunAll(*engine, {x});
  CHECK(ys[0] == std::vector<float>{0.5f, 0.0f, 0.75f, 1.0f});
  CHECK(ys[1] == std::vector<float>{0.0f, 0.5f, 0.0f, 0.75f, 1.0f, 0.0f, 0.0f});

  const NpyArray eval = Uniform(200, -1.0f, 1.0f, 11, 8);
  QuantizeOptions options;
  options.eval = &eval;
  options.quantize_outputs = true;
  auto report = QuantizeModel(fp32, Uniform(400, -1.0f, 1.0f, 7, 8), (dir / "q.onnx").string(), options);
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  CHECK(report->float_nodes.empty());  // the integer nodes are not run-time float steps either
  CHECK(report->int8_nodes.size() == 4);  // Gemm, Relu, Slice, Pad
  const auto q = Load((dir / "q.onnx").string());
  for (const auto& n : q.graph().node()) {
    if (n.op_type() != "QuantizeLinear") continue;
    const std::string from = ProducerOf(q, n.input(0));
    INFO(n.name() << " reads " << n.input(0) << " from " << from);
    CHECK((from == "Gemm" || from == "Relu" || from == "Slice" || from == "Pad" || from.empty()));
  }
  for (const auto& out : report->quality.outputs) CHECK(out.snr_db > 30.0);
  auto int8 = Model::LoadFile((dir / "q.onnx").string());
  REQUIRE(int8.has_value());
  CHECK((*int8)->is_quantized());
}

TEST_CASE("requantize follows chained pairs, keeps pairs that rescale and the graph output's name", "[quantizer]") {
  // x -> (Q -> DQ) -> (Q -> DQ) -> Gemm -> h -> Q -> DQ at another scale -> Relu -> r -> Q -> DQ
  // at another zero point -> Relu -> r2 -> (Q -> DQ) -> y: the two rescales are not pairs to drop
  Builder b(13);
  b.Input("x", {1, 4}).Output("y");
  b.Init("W", {3, 4}, kW).Init("s", {}, {0.02f}).Init("s_h", {}, {0.05f}).Init("s_h2", {}, {0.1f}).Init("s_y", {}, {0.04f});
  b.InitI8("z", {}, {0}).InitI8("z3", {}, {3});
  b.Node("QuantizeLinear", {"x", "s", "z"}, {"xq1"});
  b.Node("DequantizeLinear", {"xq1", "s", "z"}, {"xd1"});
  b.Node("QuantizeLinear", {"xd1", "s", "z"}, {"xq2"});
  b.Node("DequantizeLinear", {"xq2", "s", "z"}, {"xd2"});
  IntAttr(b.Node("Gemm", {"xd2", "W"}, {"h"}), "transB", 1);
  b.Node("QuantizeLinear", {"h", "s_h", "z"}, {"hq"});
  b.Node("DequantizeLinear", {"hq", "s_h2", "z"}, {"hd"});
  b.Node("Relu", {"hd"}, {"r"});
  b.Node("QuantizeLinear", {"r", "s_y", "z"}, {"rq"});
  b.Node("DequantizeLinear", {"rq", "s_y", "z3"}, {"rd"});
  b.Node("Relu", {"rd"}, {"r2"});
  b.Node("QuantizeLinear", {"r2", "s_y", "z"}, {"r2q"});
  b.Node("DequantizeLinear", {"r2q", "s_y", "z"}, {"y"});
  edge::testing::TempDir dir;
  QuantizeOptions options;
  options.requantize = true;
  const QuantizeReport report = QuantizeOk(dir, b.proto(), options);
  const auto q = Load((dir / "q.onnx").string());
  CHECK(ProducerOf(q, "y") == "Relu");  // graph outputs stay float without --quantize-outputs
  int scale_rescales = 0, zero_point_rescales = 0;
  for (const auto& n : q.graph().node()) {
    if (n.op_type() != "DequantizeLinear" || n.input_size() < 3) continue;
    const bool rescale = ProducerOf(q, n.input(0)) == "QuantizeLinear";
    scale_rescales += rescale && n.input(1) == "s_h2" && n.input(2) == "z";
    zero_point_rescales += rescale && n.input(1) == "s_y" && n.input(2) == "z3";
  }
  CHECK(scale_rescales == 1);
  CHECK(zero_point_rescales == 1);
  auto engine = Model::LoadFile((dir / "q.onnx").string());
  REQUIRE(engine.has_value());
}

TEST_CASE("a weight stored transposed (MatMul of a Transpose of a constant) is quantized per channel", "[quantizer]") {
  Builder b(13);
  b.Input("x", {1, 4}).Output("y");
  b.Init("W", {3, 4}, kW);
  b.Node("Transpose", {"W"}, {"Wt"});
  b.Node("MatMul", {"x", "Wt"}, {"y"});
  edge::testing::TempDir dir;
  QuantizeOptions options;
  options.quantize_outputs = true;
  const QuantizeReport report = QuantizeOk(dir, b.proto(), options);
  CHECK(report.int8_nodes.size() == 1);
  CHECK(report.float_nodes.empty());
  const auto q = Load((dir / "q.onnx").string());
  for (const auto& n : q.graph().node()) {
    CHECK(n.op_type() != "Transpose");
    if (n.op_type() == "MatMul") CHECK(ProducerOf(q, n.input(1)) == "DequantizeLinear");
  }
  for (const auto& out : report.quality.outputs) CHECK(out.snr_db > 30.0);
}

TEST_CASE("a weight handed on through Identity (a shared-weight siamese export) is a constant weight", "[quantizer]") {
  // PyTorch's export gives a module used twice its weight once and the second user an Identity
  // of it; an Identity of an Identity too. All three Gemms are quantized, no Identity is left.
  // Listed backwards too: the engine loads a node list in any order (it sorts it), and the fold
  // once dropped an Identity whose readers came first, which left them reading a tensor nobody
  // produced ("input 'W1' is not produced by any node") and refused a model the engine runs.
  for (const bool backwards : {false, true}) {
    INFO((backwards ? "readers before the Identities" : "in order"));
    Builder b(13);
    b.Input("x", {1, 4}).Output("y");
    b.Init("W", {4, 4}, {0.5f, -0.25f, 0.125f, 1.0f, -0.5f, 0.75f, 0.25f, -1.0f, 0.3f, 0.2f, -0.1f, 0.6f, 0.9f, -0.8f,
                         0.4f, 0.05f});
    const auto gemm = [&](const char* x, const char* w, const char* y) {
      IntAttr(b.Node("Gemm", {x, w}, {y}), "transB", 1);
    };
    if (backwards) {
      gemm("h2", "W2", "y");
      gemm("h", "W1", "h2");
      b.Node("Identity", {"W1"}, {"W2"});
      b.Node("Identity", {"W"}, {"W1"});
      gemm("x", "W", "h");
      REQUIRE(b.Load().has_value());
    } else {
      b.Node("Identity", {"W"}, {"W1"});
      b.Node("Identity", {"W1"}, {"W2"});
      gemm("x", "W", "h");
      gemm("h", "W1", "h2");
      gemm("h2", "W2", "y");
    }
    edge::testing::TempDir dir;
    QuantizeOptions options;
    options.quantize_outputs = true;
    const QuantizeReport report = QuantizeOk(dir, b.proto(), options);
    CHECK(report.float_nodes.empty());
    CHECK(report.int8_nodes.size() == 3);
    const auto q = Load((dir / "q.onnx").string());
    for (const auto& n : q.graph().node()) CHECK(n.op_type() != "Identity");
    for (const auto& out : report.quality.outputs) CHECK(out.snr_db > 30.0);
  }
}

TEST_CASE("the report says what the engine runs: a Concat with a constant input, a three-input Max", "[quantizer]") {
  // The rewriter puts both between QDQ pairs; the engine computes the Concat in float (a
  // constant operand) and the first pair of the Max in float. The report lists them as float,
  // naming the step, and only the Gemm and the unnamed Relu as int8.
  Builder b(13);
  b.Input("x", {1, 4}).Output("y");
  b.Init("W", {3, 4}, kW).Init("c", {1, 2}, {0.25f, -0.5f});
  IntAttr(b.Node("Gemm", {"x", "W"}, {"h"}), "transB", 1);
  b.Node("Relu", {"h"}, {"r"})->clear_name();
  IntAttr(b.Node("Concat", {"r", "c"}, {"cat"}), "axis", 1);
  b.Node("Max", {"cat", "cat", "cat"}, {"y"});
  edge::testing::TempDir dir;
  QuantizeOptions options;
  options.quantize_outputs = true;
  const QuantizeReport report = QuantizeOk(dir, b.proto(), options);
  std::vector<std::string> int8, float_ops;
  for (const auto& n : report.int8_nodes) int8.push_back(n.op_type + " " + n.name);
  for (const auto& n : report.float_nodes) {
    float_ops.push_back(n.op_type);
    CHECK_THAT(n.reason, Catch::Matchers::StartsWith("between QDQ pairs, but the engine computes it in float (step "));
  }
  CHECK(int8 == std::vector<std::string>{"Gemm Gemm1", "Relu r"});
  CHECK(float_ops == std::vector<std::string>{"Concat", "Max"});
  // the unnamed Relu carries its output's name in the written model, as the engine names it
  const auto q = Load((dir / "q.onnx").string());
  CHECK(std::any_of(q.graph().node().begin(), q.graph().node().end(),
                    [](const onnx::NodeProto& n) { return n.op_type() == "Relu" && n.name() == "r"; }));
}

TEST_CASE("the keep-float list may name an Identity of a weight, which the quantizer folds", "[quantizer]") {
  // The node is in the model as given; the fold takes it out (its reader reads the weight), so
  // there is nothing to keep float, but the entry names a node: no refusal ("names no node").
  Builder b(13);
  b.Input("x", {1, 4}).Output("y");
  b.Init("W", {4, 4}, {0.5f, -0.25f, 0.125f, 1.0f, -0.5f, 0.75f, 0.25f, -1.0f, 0.3f, 0.2f, -0.1f, 0.6f, 0.9f, -0.8f, 0.4f,
                       0.05f});
  IntAttr(b.Node("Gemm", {"x", "W"}, {"h"}), "transB", 1);
  b.Node("Identity", {"W"}, {"W1"})->set_name("shared");
  IntAttr(b.Node("Gemm", {"h", "W1"}, {"y"}), "transB", 1);
  for (const std::string keep : {"Identity", "shared"}) {
    edge::testing::TempDir dir;
    QuantizeOptions options;
    options.quantize_outputs = true;
    options.keep_float = {keep};
    const QuantizeReport report = QuantizeOk(dir, b.proto(), options);
    CHECK(report.int8_nodes.size() == 2);
  }
}

TEST_CASE("the report keeps an unnamed int8 node apart from a float node named like its output", "[quantizer]") {
  // The unnamed Gemm writes 'c' and the float ReduceSum reading it is named 'c': node names and
  // tensor names are separate namespaces in ONNX. Named 'c' in the written model, the Gemm's
  // steps were taken for the ReduceSum's float step and the Gemm reported float.
  Builder b(13);
  b.Input("x", {1, 4}).Output("y");
  b.Init("W", {3, 4}, kW);
  auto* gemm = b.Node("Gemm", {"x", "W"}, {"c"});
  IntAttr(gemm, "transB", 1);
  gemm->clear_name();
  b.Node("ReduceSum", {"c"}, {"y"})->set_name("c");
  edge::testing::TempDir dir;
  QuantizeOptions options;
  options.quantize_outputs = true;
  const QuantizeReport report = QuantizeOk(dir, b.proto(), options);
  REQUIRE(report.int8_nodes.size() == 1);
  CHECK(report.int8_nodes[0].op_type == "Gemm");
  REQUIRE(report.float_nodes.size() == 1);
  CHECK(report.float_nodes[0].op_type == "ReduceSum");
}

TEST_CASE("a Pad whose value input is a constant 0 is quantized, another value stays float", "[quantizer]") {
  for (const float value : {0.0f, 0.5f}) {
    Builder b(13);
    b.Input("x", {1, 4}).Output("y");
    b.Init("W", {3, 4}, kW).Init("v", {}, {value});
    b.InitInts("pads", {4}, {0, 1, 0, 2}, onnx::TensorProto::INT64);
    IntAttr(b.Node("Gemm", {"x", "W"}, {"h"}), "transB", 1);
    b.Node("Pad", {"h", "pads", "v"}, {"y"});
    edge::testing::TempDir dir;
    QuantizeOptions options;
    options.quantize_outputs = true;
    auto report = QuantizeUniform(dir, b.proto(), options);
    INFO("value " << value << (report ? "" : report.error().message));
    REQUIRE(report.has_value());
    if (value == 0.0f) {
      CHECK(report->float_nodes.empty());
      CHECK(report->int8_nodes.size() == 2);
    } else {
      REQUIRE(report->float_nodes.size() == 1);
      CHECK_THAT(report->float_nodes[0].reason, Catch::Matchers::Contains("other than a constant 0"));
    }
    for (const auto& out : report->quality.outputs) CHECK(out.snr_db > 30.0);
  }
}

TEST_CASE("sample layout: [N, shape without batch 1] or [N, full shape], nothing else", "[quantizer]") {
  TensorInfo input;
  input.name = "x";
  input.shape = {1, 3, 8, 8};
  input.elements = 192;
  NpyArray a;
  a.data.assign(5 * 192, 1.0f);
  a.shape = {5, 3, 8, 8};
  CHECK(CheckSampleLayout(input, a, "d").value().count == 5);
  a.shape = {5, 1, 3, 8, 8};
  CHECK(CheckSampleLayout(input, a, "d").value().count == 5);
  a.shape = {5, 192};  // right size, flat: refused
  auto flat = CheckSampleLayout(input, a, "calibration data");
  REQUIRE_FALSE(flat.has_value());
  CHECK(flat.error().message == "calibration data is [5, 192]; model input 'x' is [1, 3, 8, 8] (NCHW): expected [N, 3, 8, 8]");
  a.shape = {0, 3, 8, 8};
  CHECK_THAT(CheckSampleLayout(input, a, "d").error().message, Catch::Matchers::Contains("holds no samples"));
  a.shape = {5, 8, 8, 3};
  CHECK_THAT(CheckSampleLayout(input, a, "d").error().message, Catch::Matchers::Contains("looks transposed"));
}

TEST_CASE("outlier samples: peak over 10x the median and 10 MADs above it", "[quantizer]") {
  NpyArray a = Uniform(100, -1.0f, 1.0f);
  const SampleLayout layout{100, 4};
  CHECK(FindOutlierSamples(a, layout).empty());
  for (int i = 0; i < 4; ++i) a.data[42 * 4 + i] *= 1e4f;
  a.data[7 * 4] = 30.0f;
  CHECK(FindOutlierSamples(a, layout) == std::vector<int64_t>{7, 42});
  // Too few samples for robust statistics: not checked.
  CHECK(FindOutlierSamples(a, SampleLayout{7, 4}).empty());
  // Peaks that vary widely but smoothly (quiet and loud recordings) are no outliers.
  NpyArray loud = Uniform(100, -1.0f, 1.0f);
  for (int64_t s = 0; s < 100; ++s)
    for (int i = 0; i < 4; ++i) loud.data[s * 4 + i] *= float(1 + s / 10);
  CHECK(FindOutlierSamples(loud, layout).empty());
}

TEST_CASE("without --eval the last max(10, 20 percent) samples are held out", "[quantizer]") {
  auto split = SplitHeldOut(Uniform(32, 0, 1), SampleLayout{32, 4});
  REQUIRE(split.has_value());
  CHECK(split->calibration.shape[0] == 22);
  CHECK(split->held_out.shape[0] == 10);
  const NpyArray all = Uniform(32, 0, 1);
  split = SplitHeldOut(all, SampleLayout{32, 4});
  CHECK(split->held_out.data.front() == all.data[22 * 4]);  // the tail, in order
  split = SplitHeldOut(Uniform(100, 0, 1), SampleLayout{100, 4});
  CHECK(split->held_out.shape[0] == 20);
  auto few = SplitHeldOut(Uniform(19, 0, 1), SampleLayout{19, 4});
  REQUIRE_FALSE(few.has_value());
  CHECK_THAT(few.error().message, Catch::Matchers::Contains("--eval"));
}

TEST_CASE("quality figures: a model against itself is exact, and the bars read them", "[quantizer]") {
  auto m = LoadOrDie(ZooPath("mlp_anomaly.onnx"));
  auto q = MeasureQuality(m, m, ReadOrDie(ZooPath("mlp_anomaly.eval.npy")));
  REQUIRE(q.has_value());
  REQUIRE(q->outputs.size() == 1);
  CHECK(std::isinf(q->outputs[0].snr_db));
  CHECK(q->outputs[0].cosine == Approx(1.0));
  CHECK(q->outputs[0].top1_agreement == 1.0);
  CHECK(q->outputs[0].max_abs_error == 0.0);
  CHECK(MissedQualityBar(*q, 1000.0, 100.0).empty());
  QualityReport low = *q;
  low.outputs[0].snr_db = 20.0;
  low.outputs[0].top1_agreement = 0.5;
  CHECK(MissedQualityBar(low, 30.0, std::nullopt) == "output 'logits' SNR 20.0 dB < --min-snr 30.0");
  CHECK_THAT(MissedQualityBar(low, std::nullopt, 99.0), Catch::Matchers::Contains("top-1 agreement 50.00% < --min-top1 99.00%"));
  low.outputs[0].classification = false;
  CHECK_THAT(MissedQualityBar(low, std::nullopt, 99.0), Catch::Matchers::Contains("cannot be checked"));
}

TEST_CASE("the quantizer quantizes ConvTranspose per output channel, a dilated one stays float", "[quantizer]") {
  // x [1, 4, 5, 5] -> ConvTranspose 4 -> 6 (group 2), 2x2/2 (or dilated 3x3/2) -> Relu -> y
  auto build = [](bool dilated) {
    Builder b(13);
    b.Input("x", {1, 4, 5, 5}).Output("y");
    const int64_t k = dilated ? 3 : 2;
    std::vector<float> w(static_cast<size_t>(4 * 3 * k * k));
    for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i * 7 % 13) - 6) * 0.1f * static_cast<float>(1 + i % 3);
    b.Init("W", {4, 3, k, k}, w).Init("bias", {6}, {0.1f, -0.2f, 0.3f, 0.0f, -0.1f, 0.2f});
    auto* ct = b.Node("ConvTranspose", {"x", "W", "bias"}, {"h"});
    IntAttr(ct, "group", 2);
    IntsAttr(ct, "strides", {2, 2});
    if (dilated) IntsAttr(ct, "dilations", {2, 2});
    b.Node("Relu", {"h"}, {"y"});
    return b.proto();
  };
  edge::testing::TempDir dir;
  auto samples = [](int64_t count, unsigned seed) {
    NpyArray a = Uniform(count, -1.0f, 1.0f, seed, 100);
    a.shape = {count, 4, 5, 5};
    return a;
  };
  const NpyArray eval = samples(40, 11);
  QuantizeOptions options;
  options.eval = &eval;
  options.quantize_outputs = true;
  SECTION("undilated: int8 end to end") {
    auto report = QuantizeModel(Save(dir, "m.onnx", build(false)), samples(80, 7),
                                (dir / "q.onnx").string(), options);
    INFO((report ? "" : report.error().message));
    REQUIRE(report.has_value());
    CHECK(report->float_nodes.empty());
    const auto q = Load((dir / "q.onnx").string());
    CHECK(FloatData(Init(q, "W_scale")).size() == 3);  // per output channel of a group: axis 1
    CHECK(FloatData(Init(q, "bias_scale")).size() == 6);
    for (const auto& out : report->quality.outputs) CHECK(out.snr_db > 30.0);
    auto engine = Model::LoadFile((dir / "q.onnx").string());
    REQUIRE(engine.has_value());
    // quantize, the phases' int8 Conv, their interleave, dequantize: nothing in float between
    const auto steps = (*engine)->StepSummary();
    REQUIRE(steps.size() == 4);
    CHECK_THAT(steps[1], Catch::Matchers::Contains("QConv") && Catch::Matchers::Contains("int8"));
    CHECK_THAT(steps[2], Catch::Matchers::Contains("(int8, phases interleaved)"));
  }
  SECTION("dilated: float, and the report says why") {
    auto report = QuantizeModel(Save(dir, "m.onnx", build(true)), samples(80, 7),
                                (dir / "q.onnx").string(), options);
    INFO((report ? "" : report.error().message));
    REQUIRE(report.has_value());
    REQUIRE(report->float_nodes.size() == 1);
    CHECK(report->float_nodes[0].op_type == "ConvTranspose");
    CHECK_THAT(report->float_nodes[0].reason, Catch::Matchers::Contains("dilated"));
  }
}

TEST_CASE("ops the engine runs between QDQ pairs are quantized: the quantizer reads the engine's table",
          "[quantizer]") {
  // x [1, 4] -> Gemm -> [1, 8] -> Reshape [1, 2, 4] -> BatchNormalization -> InstanceNormalization
  // -> Div by Sigmoid of itself (two activations) -> Sqrt(Abs) -> ReduceMax over the last axis
  // -> y [1, 2], a graph output. Each has a QdqForm::kInt8 entry in SupportedOperators, so with
  // --quantize-outputs nothing stays float, y comes from a DequantizeLinear and the engine runs
  // the ReduceMax on codes.
  Builder b(13);
  b.Input("x", {1, 4}).Output("y");
  std::vector<float> w(32);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i * 7 % 11) - 5) * 0.1f;
  b.Init("W", {8, 4}, w).Init("bias", {8}, {0.1f, -0.2f, 0.3f, 0.0f, -0.1f, 0.2f, 0.05f, -0.3f});
  b.InitInts("shape", {3}, {1, 2, 4}, onnx::TensorProto::INT64);
  b.Init("bn_s", {2}, {1.5f, 0.5f}).Init("bn_b", {2}, {0.1f, -0.1f}).Init("bn_m", {2}, {0.0f, 0.2f});
  b.Init("bn_v", {2}, {1.0f, 2.0f}).Init("one", {2}, {1.0f, 1.0f}).Init("zero", {2}, {0.0f, 0.0f});
  IntAttr(b.Node("Gemm", {"x", "W", "bias"}, {"h"}), "transB", 1);
  b.Node("Reshape", {"h", "shape"}, {"r"});
  b.Node("BatchNormalization", {"r", "bn_s", "bn_b", "bn_m", "bn_v"}, {"bn"});
  b.Node("InstanceNormalization", {"bn", "one", "zero"}, {"in"});
  b.Node("Sigmoid", {"in"}, {"gate"});
  b.Node("Div", {"in", "gate"}, {"d"});
  b.Node("Abs", {"d"}, {"a"});
  b.Node("Sqrt", {"a"}, {"s"});
  auto* reduce = b.Node("ReduceMax", {"s"}, {"y"});
  IntsAttr(reduce, "axes", {2});
  IntAttr(reduce, "keepdims", 0);
  edge::testing::TempDir dir;
  const NpyArray eval = Uniform(100, -1.0f, 1.0f, 11);
  QuantizeOptions options;
  options.eval = &eval;
  options.quantize_outputs = true;
  options.min_snr_db = std::nullopt;
  auto report = QuantizeModel(Save(dir, "m.onnx", b.proto()), Uniform(200, -1.0f, 1.0f), (dir / "q.onnx").string(),
                              options);
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  for (const auto& f : report->float_nodes) INFO(f.op_type << ": " << f.reason);
  CHECK(report->float_nodes.empty());
  CHECK(report->int8_nodes.size() == 9);
  const auto q = Load((dir / "q.onnx").string());
  CHECK(ProducerOf(q, "y") == "DequantizeLinear");
  int quantized_operands_of_div = 0;
  for (const auto& n : q.graph().node()) {
    if (n.op_type() != "Div") continue;
    for (const auto& in : n.input()) quantized_operands_of_div += ProducerOf(q, in) == "DequantizeLinear";
  }
  CHECK(quantized_operands_of_div == 2);
  CHECK(report->quality.outputs.at(0).snr_db > 20.0);
  auto engine = Model::LoadFile((dir / "q.onnx").string());
  REQUIRE(engine.has_value());
  CHECK(HasStep(**engine, "of codes"));
  CHECK(HasStep(**engine, "InstanceNormalization"));

  // --keep-float by op type leaves those nodes float (the report says why); an entry that names
  // no node and no op type is refused, nothing written
  options.keep_float = {"Div", "Sqrt"};
  options.force = true;
  auto kept = QuantizeModel(Save(dir, "m.onnx", b.proto()), Uniform(200, -1.0f, 1.0f), (dir / "q.onnx").string(),
                            options);
  REQUIRE(kept.has_value());
  CHECK(kept->int8_nodes.size() == 7);
  REQUIRE(kept->float_nodes.size() == 2);
  for (const auto& f : kept->float_nodes) CHECK_THAT(f.reason, Catch::Contains("kept float by --keep-float " + f.op_type));
  options.keep_float = {"Dvi"};
  auto typo = QuantizeModel(Save(dir, "m.onnx", b.proto()), Uniform(200, -1.0f, 1.0f), (dir / "q2.onnx").string(),
                            options);
  REQUIRE_FALSE(typo.has_value());
  CHECK_THAT(typo.error().message, Catch::Contains("--keep-float 'Dvi' names no node and no op type"));
  CHECK_FALSE(std::filesystem::exists(dir / "q2.onnx"));
}

TEST_CASE("an embedding lookup of int64 ids quantizes with the table's range and gathers int8 codes",
          "[quantizer]") {
  // ids [1, 3] int64 -> Gather(table [8, 4]) -> e [1, 3, 4] (an output too) -> Flatten ->
  // Gemm(W [6, 12]) -> Relu -> Gemm(W2 [2, 6]) -> y. Calibration looks up rows 0-3 only; rows
  // 4-7 hold values up to 4x theirs, and a run may look any of them up: e takes the table's
  // range, not calibration's, and the table becomes int8 codes the engine gathers.
  Builder b(13);
  b.Input("ids", {1, 3}, onnx::TensorProto::INT64).Output("e").Output("y");
  std::vector<float> table(32), w(72), w2(12);
  for (size_t i = 0; i < table.size(); ++i) {
    table[i] = static_cast<float>(static_cast<int>(i * 5 % 9) - 4) * (i < 16 ? 0.25f : 1.0f);
  }
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(static_cast<int>(i * 7 % 11) - 5) * 0.1f;
  for (size_t i = 0; i < w2.size(); ++i) w2[i] = static_cast<float>(static_cast<int>(i * 3 % 7) - 3) * 0.2f;
  b.Init("table", {8, 4}, table).Init("W", {6, 12}, w).Init("W2", {2, 6}, w2);
  b.Node("Gather", {"table", "ids"}, {"e"});
  b.Node("Flatten", {"e"}, {"f"});
  IntAttr(b.Node("Gemm", {"f", "W"}, {"h"}), "transB", 1);
  b.Node("Relu", {"h"}, {"r"});
  IntAttr(b.Node("Gemm", {"r", "W2"}, {"y"}), "transB", 1);
  const auto ids = [](int64_t count, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> row(0, 3);
    NpyArray a;
    a.shape = {count, 3};
    for (int64_t i = 0; i < count * 3; ++i) a.data.push_back(static_cast<float>(row(rng)));
    return a;
  };
  edge::testing::TempDir dir;
  const NpyArray eval = ids(100, 11);
  QuantizeOptions options;
  options.eval = &eval;
  options.quantize_outputs = true;
  auto report = QuantizeModel(Save(dir, "m.onnx", b.proto()), ids(200, 7), (dir / "q.onnx").string(), options);
  INFO((report ? "" : report.error().message));
  REQUIRE(report.has_value());
  for (const auto& out : report->quality.outputs) CHECK(out.snr_db > 30.0);
  // The Gather reads the table's codes at the scale of the table's range [-4, 4]: 8 / 255.
  const auto q = Load((dir / "q.onnx").string());
  const onnx::NodeProto* gather = nullptr;
  for (const auto& n : q.graph().node()) gather = n.op_type() == "Gather" ? &n : gather;
  REQUIRE(gather != nullptr);
  CHECK(ProducerOf(q, gather->input(0)) == "DequantizeLinear");
  CHECK(Init(q, "table_quantized").data_type() == onnx::TensorProto::INT8);
  const float scale = 8.0f / 255.0f;
  CHECK(FloatData(Init(q, "table_scale"))[0] == scale);
  for (const auto& t : q.graph().initializer()) CHECK(t.name() != "table");  // the float table is gone
  auto int8 = Model::LoadFile((dir / "q.onnx").string());
  REQUIRE(int8.has_value());
  CHECK(HasStep(**int8, "(int8, int64 indices)"));
  CHECK_FALSE(HasStep(**int8, "QuantizeLinear e"));
  // rows calibration never saw, a negative id among them: within half a step of the table
  const auto e = RunAll(*int8, {{7, -2, 5}})[0];
  REQUIRE(e.size() == 12);
  for (size_t k = 0; k < 12; ++k) {
    const size_t row = k < 4 ? 7 : k < 8 ? 6 : 5;
    INFO("element " << k);
    CHECK(std::fabs(e[k] - table[row * 4 + k % 4]) <= scale / 2 * 1.001f);
  }
}

}  // namespace edge::engine::testing
