// Graph folds (fold.cpp) must give the bytes of the unfused graph, run fused and, with
// keep_all_tensors (which skips the folds), unfused, at every tier:
// - element-wise int8 ops folded into the producing conv's step: random QDQ conv blocks (1x1,
//   3x3, depthwise; channel counts that are not multiples of 16; extreme zero points; scales
//   that saturate);
// - DequantizeLinear -> float op -> QuantizeLinear as one step: random binary ops with every
//   broadcast, int8 or float operands in either order, unary ops on float values, Softmax over
//   either axis, an op of x and one constant value (a lookup table), a Relu or Clip after a
//   binary op (its clamp), ReduceMax/ReduceMin (of the codes), and values that make
//   infinities and NaNs;
// - an int8 MatMul's bias Add (a constant per column, either operand order, a Relu or Clip
//   after it) as the MatMul's epilogue.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <cstring>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/kernels/cpu_features.h"
#include "edge_onnx/onnx.pb.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

struct Block {
  int64_t channels = 4, h = 5, w = 5, kernel = 3, stride = 1;
  bool depthwise = false, hardswish = true, residual = true, relu_after_add = false;
  const char* gate = nullptr;  // x * gate(x) on the conv's output (before any HardSwish)
  float x_scale = 0, w_scale = 0, y_scale = 0;  // > 0: this scale instead of a random one
};

class QdqBuilder {
 public:
  explicit QdqBuilder(std::mt19937& rng) : rng_(rng) {
    m_.set_ir_version(7);
    auto* op = m_.add_opset_import();
    op->set_domain("");
    op->set_version(14);  // HardSwish is an opset-14 operator
  }
  onnx::GraphProto* g() { return m_.mutable_graph(); }
  // The float graph input "x" of these dimensions.
  std::string FloatInput(const std::vector<int64_t>& dims) {
    auto* in = g()->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
    return "x";
  }

  std::string Scalar(float v) {
    auto* t = g()->add_initializer();
    t->set_name("c" + std::to_string(next_++));
    t->set_data_type(onnx::TensorProto::FLOAT);
    t->add_float_data(v);
    return t->name();
  }
  onnx::TensorProto* Vector(const std::string& name, onnx::TensorProto::DataType type, int64_t n) {
    auto* t = g()->add_initializer();
    t->set_name(name);
    t->set_data_type(type);
    t->add_dims(n);
    return t;
  }
  std::string Int8(const std::vector<int64_t>& dims, const std::vector<int>& values) {
    auto* t = g()->add_initializer();
    t->set_name("c" + std::to_string(next_++));
    t->set_data_type(onnx::TensorProto::INT8);
    for (int64_t d : dims) t->add_dims(d);
    for (int v : values) t->add_int32_data(v);
    return t->name();
  }
  std::string Node(const std::string& op, const std::vector<std::string>& in) {
    auto* n = g()->add_node();
    n->set_op_type(op);
    n->set_name(op + std::to_string(next_));
    for (const auto& i : in) n->add_input(i);
    n->add_output("t" + std::to_string(next_++));
    last_ = n;
    return n->output(0);
  }
  void Attr(const std::string& name, std::vector<int64_t> v) {
    auto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
  }
  void Attr(const std::string& name, int64_t v) {
    auto* a = last_->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  // Q then DQ with random parameters: an extreme zero point half of the time.
  std::string QuantDequant(const std::string& x, float scale, float* chosen_scale = nullptr) {
    std::uniform_int_distribution<int> zp(-128, 127), pick(0, 3);
    const int z = pick(rng_) == 0 ? -128 : pick(rng_) == 1 ? 127 : zp(rng_);
    const std::string s = Scalar(scale), zn = Int8({}, {z});
    if (chosen_scale != nullptr) *chosen_scale = scale;
    return Node("DequantizeLinear", {Node("QuantizeLinear", {x, s, zn}), s, zn});
  }
  std::string Bytes() {
    std::string s;
    m_.SerializeToString(&s);
    return s;
  }

 private:
  std::mt19937& rng_;
  onnx::ModelProto m_;
  onnx::NodeProto* last_ = nullptr;
  int next_ = 0;
};

std::string MakeBlock(const Block& b, std::mt19937& rng) {
  QdqBuilder q(rng);
  auto* in = q.g()->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int64_t d : {int64_t{1}, b.channels, b.h, b.w}) shape->add_dim()->set_dim_value(d);
  std::uniform_real_distribution<float> scale(0.005f, 0.1f);
  float sx = 0;
  const std::string x = q.QuantDequant("x", b.x_scale > 0 ? b.x_scale : scale(rng), &sx);
  const int64_t cin_g = b.depthwise ? 1 : b.channels, taps = b.kernel * b.kernel;
  std::uniform_int_distribution<int> wv(-127, 127);
  std::vector<int> w(static_cast<size_t>(b.channels * cin_g * taps)), bias(static_cast<size_t>(b.channels));
  for (int& v : w) v = wv(rng);
  std::vector<float> ws(static_cast<size_t>(b.channels));
  for (float& s : ws) s = b.w_scale > 0 ? b.w_scale : scale(rng) * 0.1f;
  std::uniform_int_distribution<int> bv(-20000, 20000);
  for (int& v : bias) v = bv(rng);
  auto* wscale = q.Vector("wscale", onnx::TensorProto::FLOAT, b.channels);
  auto* bscale = q.Vector("bscale", onnx::TensorProto::FLOAT, b.channels);
  auto* bias_t = q.Vector("bias", onnx::TensorProto::INT32, b.channels);
  auto* bzero = q.Vector("bzero", onnx::TensorProto::INT32, b.channels);
  for (int64_t c = 0; c < b.channels; ++c) {
    wscale->add_float_data(ws[c]);
    bscale->add_float_data(sx * ws[c]);
    bias_t->add_int32_data(bias[c]);
    bzero->add_int32_data(0);
  }
  const std::string wq = q.Int8({b.channels, cin_g, b.kernel, b.kernel}, w);
  const std::string wz = q.Int8({b.channels}, std::vector<int>(static_cast<size_t>(b.channels), 0));
  const std::string wd = q.Node("DequantizeLinear", {wq, "wscale", wz});
  q.Attr("axis", 0);
  const std::string bd = q.Node("DequantizeLinear", {"bias", "bscale", "bzero"});
  q.Attr("axis", 0);
  std::string y = q.Node("Conv", {x, wd, bd});
  const int64_t pad = b.kernel / 2;
  q.Attr("kernel_shape", {b.kernel, b.kernel});
  q.Attr("pads", {pad, pad, pad, pad});
  q.Attr("strides", {b.stride, b.stride});
  if (b.depthwise) q.Attr("group", b.channels);
  // a small output scale half of the time: many results saturate
  std::uniform_int_distribution<int> coin(0, 1);
  const float small = scale(rng) * 0.05f, normal = scale(rng);
  y = q.QuantDequant(y, b.y_scale > 0 ? b.y_scale : coin(rng) ? normal : small);
  if (b.gate != nullptr) {
    const std::string g = q.QuantDequant(q.Node(b.gate, {y}), scale(rng) * 0.2f);
    y = q.QuantDequant(coin(rng) ? q.Node("Mul", {y, g}) : q.Node("Mul", {g, y}), scale(rng));
  }
  if (b.hardswish) y = q.QuantDequant(q.Node("HardSwish", {y}), scale(rng));
  if (b.residual) {
    // the Add's operands, the chain and the block input, in either order
    y = coin(rng) ? q.Node("Add", {y, x}) : q.Node("Add", {x, y});
    if (b.relu_after_add) y = q.Node("Relu", {y});
    y = q.QuantDequant(y, scale(rng));
  }
  auto* out = q.g()->add_output();
  out->set_name(y);
  return q.Bytes();
}

// A serialized model loaded with the graph folds (Fused) and without them (Unfused:
// keep_all_tensors skips the folds), the reference the folded steps must equal.
Result<std::shared_ptr<const Model>> Fused(const std::string& bytes) {
  return Model::LoadMemory(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}
Result<std::shared_ptr<const Model>> Unfused(const std::string& bytes) {
  LoadOptions plain;
  plain.keep_all_tensors = true;
  return Model::LoadMemory(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), plain);
}

std::vector<float> RunOnce(std::shared_ptr<const Model> model, KernelTier tier, const std::vector<float>& input) {
  ExecutionContext ctx(model, tier);
  std::vector<float> out(static_cast<size_t>(model->outputs()[0].elements));
  const float* in[] = {input.data()};
  float* outs[] = {out.data()};
  REQUIRE(ctx.Run(in, outs, nullptr));
  return out;
}

}  // namespace

TEST_CASE("lookups, self-gated activations and residual Adds folded into int8 convs give the unfused bytes", "[engine][fusion][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> ch(1, 21), hw(1, 12), coin(0, 1), k3(0, 2);
  int fused_luts = 0, fused_adds = 0, fused_gates = 0;
  for (int iter = 0; iter < 150; ++iter) {
    Block b;
    b.channels = ch(rng);
    b.h = hw(rng);
    b.w = hw(rng);
    b.depthwise = coin(rng) == 1;
    b.kernel = k3(rng) == 0 ? 1 : 3;
    b.residual = coin(rng) == 1;
    b.hardswish = !b.residual || coin(rng) == 1;
    b.stride = !b.residual && coin(rng) == 1 ? 2 : 1;
    b.relu_after_add = coin(rng) == 1;
    // x * Sigmoid(x) (Swish/SiLU) or x * Tanh(x) after the conv a third of the time: one lookup
    // (FoldSelfGate), in the conv's epilogue
    if (iter % 3 == 0) b.gate = coin(rng) == 1 ? "Sigmoid" : "Tanh";
    const std::string bytes = MakeBlock(b, rng);
    auto fused = Fused(bytes);
    auto unfused = Unfused(bytes);
    INFO("iteration " << iter << " channels " << b.channels << " " << b.h << "x" << b.w << " kernel " << b.kernel
                      << " stride " << b.stride << (b.depthwise ? " depthwise" : "")
                      << (b.gate != nullptr ? b.gate : "") << (b.hardswish ? " hardswish" : "")
                      << (b.residual ? " residual" : ""));
    if (!fused) FAIL(fused.error().message);
    REQUIRE(fused.has_value());
    REQUIRE(unfused.has_value());
    for (const std::string& s : (*fused)->StepSummary()) {
      fused_luts += s.find("+ HardSwish") != std::string::npos;
      fused_adds += s.find("+ Add") != std::string::npos;
      fused_gates += s.find("+ Mul") != std::string::npos;
    }
    std::uniform_real_distribution<float> value(-8.0f, 8.0f);
    std::vector<float> input(static_cast<size_t>(b.channels * b.h * b.w));
    for (float& v : input) v = value(rng);
    const std::vector<float> expected = RunOnce(*unfused, KernelTier::kScalar, input);
    for (KernelTier tier : tiers) {
      INFO("tier " << KernelTierName(tier));
      CHECK(RunOnce(*fused, tier, input) == expected);
      CHECK(RunOnce(*unfused, tier, input) == expected);
    }
  }
  CHECK(fused_luts > 30);
  CHECK(fused_adds > 30);
  CHECK(fused_gates == 50);
}

// Every output, one after another.
std::vector<float> RunInputs(std::shared_ptr<const Model> model, KernelTier tier, const std::vector<std::vector<float>>& inputs) {
  ExecutionContext ctx(model, tier);
  int64_t total = 0;
  for (const auto& o : model->outputs()) total += o.elements;
  std::vector<float> out(static_cast<size_t>(total));
  std::vector<const float*> in;
  for (const auto& v : inputs) in.push_back(v.data());
  std::vector<float*> outs;
  int64_t at = 0;
  for (const auto& o : model->outputs()) {
    outs.push_back(out.data() + at);
    at += o.elements;
  }
  REQUIRE(ctx.Run(in, outs, nullptr));
  return out;
}

// Same bits, NaN included (a NaN's payload is the kernels' too).
bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Every output of the folded model at each tier, bit for bit those of the unfolded one at the
// scalar tier.
void CheckUnfusedBits(const std::shared_ptr<const Model>& fused, const std::shared_ptr<const Model>& unfused,
                      const std::vector<KernelTier>& tiers, const std::vector<std::vector<float>>& inputs) {
  const std::vector<float> expected = RunInputs(unfused, KernelTier::kScalar, inputs);
  for (KernelTier tier : tiers) {
    INFO("tier " << KernelTierName(tier));
    CHECK(SameBits(RunInputs(fused, tier, inputs), expected));
  }
}

TEST_CASE("DequantizeLinear -> float op -> QuantizeLinear folded into one step gives the unfolded bytes",
          "[engine][fusion][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261205);
  std::uniform_int_distribution<int> rows(1, 5), cols(1, 300), pick4(0, 3), coin(0, 1);
  std::uniform_real_distribution<float> scale(0.005f, 0.2f);
  const char* binary[] = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Pow"};
  const char* unary[] = {"Sqrt", "Relu", "Neg", "Abs", "Exp", "Tanh", "Erf", "Reciprocal"};
  int folded = 0, lookups = 0, clamps = 0, clamped = 0, extremes = 0, softmax_tables = 0, last_axis_softmax = 0;
  for (int iter = 0; iter < 240; ++iter) {
    QdqBuilder q(rng);
    // Softmax (kind 3) over 9-45 rows: the AVX-512 row sums take blocks of 16
    const int64_t r = rows(rng) * (iter % 6 == 3 ? 9 : 1), c = cols(rng);
    auto add_input = [&](const std::string& name, const std::vector<int64_t>& dims) {
      auto* in = q.g()->add_input();
      in->set_name(name);
      in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
      auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();  // a scalar: a shape of rank 0
      for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
    };
    // the second operand's shape: the same, a row, a column or one value
    const int bshape = pick4(rng);
    const std::vector<int64_t> xdims = {1, r, c};
    const std::vector<int64_t> ydims = bshape == 0 ? xdims : bshape == 1 ? std::vector<int64_t>{c}
                                       : bshape == 2 ? std::vector<int64_t>{1, r, 1} : std::vector<int64_t>{};
    add_input("x", xdims);
    add_input("y", ydims);
    const std::string xa = q.QuantDequant("x", scale(rng));
    // binary of DQs, binary with a float operand, unary, Softmax, binary with one constant
    // value, ReduceMax/ReduceMin
    const int kind = iter % 6;
    std::string op, y;
    if (kind == 0 || kind == 1) {
      op = binary[iter / 6 % 7];
      std::string other = kind == 0 ? q.QuantDequant("y", scale(rng)) : q.Node("Relu", {"y"});  // float, not a DQ
      if (op == "Pow") other = q.Node("Abs", {other});
      y = coin(rng) || op == "Pow" ? q.Node(op, {xa, other}) : q.Node(op, {other, xa});
    } else if (kind == 2) {
      op = unary[iter / 6 % 8];
      // on a float value (a DQ straight into a unary op is a lookup table, not this fold)
      y = q.Node(op, {q.Node("Sub", {xa, q.QuantDequant("y", scale(rng))})});
    } else if (kind == 4) {
      // a function of x's 256 codes: a lookup table of the op's float arithmetic
      op = binary[iter / 6 % 7];
      const float constants[] = {2.0f, 3.0f, 0.5f, -1.0f, 0.0f, 1.4142135f, -0.0f, 1e-30f};
      const std::string c = q.Scalar(constants[iter / 35 % 8]);
      y = coin(rng) || op == "Pow" ? q.Node(op, {xa, c}) : q.Node(op, {c, xa});
    } else if (kind == 5) {
      // the extreme of the codes, looked up (the scales here are positive)
      op = coin(rng) ? "ReduceMax" : "ReduceMin";
      y = q.Node(op, {xa});
      q.Attr("axes", std::vector<int64_t>{1 + coin(rng)});
      q.Attr("keepdims", coin(rng));
    } else {
      op = "Softmax";
      y = q.Node("Softmax", {xa});
      if (coin(rng)) {
        q.Attr("axis", 1);  // not the last axis: the strided loop
      } else {
        ++last_axis_softmax;  // the exponentials from a table of (code, row's largest code)
      }
    }
    // a Relu or Clip after a binary op: folded into it as its clamp
    const int clamp = kind == 0 || kind == 1 || kind == 4 ? pick4(rng) : 0;
    if (clamp == 1) y = q.Node("Relu", {y});
    if (clamp == 2) y = q.Node("Clip", {y, q.Scalar(-0.5f), q.Scalar(0.75f)});
    y = q.QuantDequant(y, coin(rng) ? scale(rng) : scale(rng) * 0.02f);
    if (coin(rng) && kind != 5) y = q.QuantDequant(q.Node("Add", {y, xa}), scale(rng));  // xa read twice
    auto* out = q.g()->add_output();
    out->set_name(y);
    // Pow takes no clamp; an Add or Mul of two DQs with a Relu/Clip is an int8 Add/Mul (lowering)
    clamped += (clamp == 1 || clamp == 2) && op != "Pow" && !(kind == 0 && (op == "Add" || op == "Mul"));
    const std::string bytes = q.Bytes();
    auto fused = Fused(bytes);
    auto unfused = Unfused(bytes);
    INFO("iteration " << iter << " " << op << " x [1, " << r << ", " << c << "] y shape " << bshape);
    if (!fused) FAIL(fused.error().message);
    REQUIRE(unfused.has_value());
    int folded_here = 0;
    for (const std::string& s : (*fused)->StepSummary()) {
      folded_here += s.find("float inside") != std::string::npos;
      lookups += s.find("lookup") != std::string::npos;
      extremes += s.find("of codes") != std::string::npos;
      softmax_tables += s.find("exponentials from a table") != std::string::npos;
      clamps += s.find("float inside") != std::string::npos &&
                (s.find(" + Relu") != std::string::npos || s.find(" + Clip") != std::string::npos);
    }
    // Every float op of the iteration is folded, except an Add or Mul of two DQs (an int8 Add
    // or Mul, as is the Add of the result and x) and a function of x alone (a lookup).
    const bool float_op = kind == 1 || kind == 2 || kind == 3 || kind == 5 || (kind == 0 && op != "Add" && op != "Mul");
    CHECK(folded_here >= (float_op ? 1 : 0));
    folded += folded_here;
    std::uniform_real_distribution<float> value(-6.0f, 6.0f);
    std::vector<std::vector<float>> inputs = {std::vector<float>(static_cast<size_t>(r * c)), {}};
    int64_t ycount = 1;
    for (int64_t d : ydims) ycount *= d;
    inputs[1].resize(static_cast<size_t>(ycount));
    for (auto& v : inputs)
      for (float& e : v) e = pick4(rng) == 0 ? 0.0f : value(rng);  // zeros: x/0, 0^negative, log-like edges
    const std::vector<float> expected = RunInputs(*unfused, KernelTier::kScalar, inputs);
    for (KernelTier tier : tiers) {
      INFO("tier " << KernelTierName(tier));
      CHECK(SameBits(RunInputs(*fused, tier, inputs), expected));
      CHECK(SameBits(RunInputs(*unfused, tier, inputs), expected));
    }
  }
  CHECK(folded >= 160);
  // every constant-operand iteration's op but Pow (lowered to an int8 lookup before the fold)
  CHECK(lookups == 35);
  CHECK(clamps >= clamped);  // every Relu/Clip after a float binary op joined it
  CHECK(clamped >= 30);
  CHECK(extremes == 40);  // every ReduceMax/ReduceMin
  CHECK(softmax_tables == last_axis_softmax);
  CHECK(last_axis_softmax >= 10);
}

TEST_CASE("a MatMul's bias Add folded into its step gives the unfused bytes", "[engine][fusion][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261207);
  std::uniform_int_distribution<int> dim(1, 70), wide(1, 130), wv(-127, 127), pick4(0, 3), coin(0, 1);
  std::uniform_real_distribution<float> scale(0.005f, 0.1f), bias_value(-3.0f, 3.0f);
  int folded = 0, clamped = 0;
  for (int iter = 0; iter < 60; ++iter) {
    QdqBuilder q(rng);
    // rows of K inputs (a token per row, in a leading batch of 1), N output columns: N around
    // the kernel's 16-column vectors and 64-column panels
    // (one row now and then: the GEMV path, the Add after it)
    const int64_t r = iter % 10 == 7 ? 1 : dim(rng), k = wide(rng), n = iter % 4 == 0 ? 16 * (1 + iter % 5) : wide(rng);
    const std::string xa = q.QuantDequant(q.FloatInput({1, r, k}), scale(rng));
    std::vector<int> w(static_cast<size_t>(k * n));
    for (int& v : w) v = wv(rng);
    const std::string wq = q.Int8({k, n}, w);
    const std::string wd = q.Node("DequantizeLinear", {wq, q.Scalar(scale(rng) * 0.1f), q.Int8({}, {0})});
    std::string y = q.QuantDequant(q.Node("MatMul", {xa, wd}), pick4(rng) == 0 ? scale(rng) * 0.02f : scale(rng));
    // the bias: [N] or [1, 1, N]; large values, an infinity or a NaN now and then
    auto* b = q.Vector("bias", onnx::TensorProto::FLOAT, n);
    if (coin(rng)) {
      b->clear_dims();
      for (int64_t d : {int64_t{1}, int64_t{1}, n}) b->add_dims(d);
    }
    for (int64_t j = 0; j < n; ++j) {
      float v = bias_value(rng) * (iter % 7 == 3 ? 100.0f : 1.0f);
      if (iter % 11 == 5 && j % 5 == 0) v = j % 10 == 0 ? std::numeric_limits<float>::infinity() : std::nanf("");
      b->add_float_data(v);
    }
    y = coin(rng) ? q.Node("Add", {y, "bias"}) : q.Node("Add", {"bias", y});
    const int clamp = pick4(rng);
    if (clamp == 1) y = q.Node("Relu", {y});
    if (clamp == 2) y = q.Node("Clip", {y, q.Scalar(-0.5f), q.Scalar(0.75f)});
    clamped += clamp == 1 || clamp == 2;
    y = q.QuantDequant(y, pick4(rng) == 0 ? scale(rng) * 0.02f : scale(rng));
    auto* out = q.g()->add_output();
    out->set_name(y);
    const std::string bytes = q.Bytes();
    auto fused = Fused(bytes);
    auto unfused = Unfused(bytes);
    INFO("iteration " << iter << " x [1, " << r << ", " << k << "] N " << n << " clamp " << clamp);
    if (!fused) FAIL(fused.error().message);
    REQUIRE(unfused.has_value());
    for (const std::string& st : (*fused)->StepSummary()) {
      folded += st.find("MatMul") != std::string::npos && st.find(" + Add") != std::string::npos;
    }
    std::uniform_real_distribution<float> value(-4.0f, 4.0f);
    std::vector<float> input(static_cast<size_t>(r * k));
    for (float& v : input) v = value(rng);
    const std::vector<float> expected = RunInputs(*unfused, KernelTier::kScalar, {input});
    for (KernelTier tier : tiers) {
      INFO("tier " << KernelTierName(tier));
      CHECK(SameBits(RunInputs(*fused, tier, {input}), expected));
      CHECK(SameBits(RunInputs(*unfused, tier, {input}), expected));
    }
  }
  CHECK(folded == 60);  // every Add (a Relu or Clip after it joins the Add first)
  CHECK(clamped >= 20);
}

TEST_CASE("chains of int8 lookups run as one table and give the unchained bytes", "[engine][fusion][tiers]") {
  // 2-4 lookups one after another (QDQ unary ops, and binary ops of the value and one constant
  // on either side), each link with its own quantization; in some chains the first link's
  // output is also a graph output, so the chain starts after it.
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261207);
  std::uniform_real_distribution<float> scale(0.005f, 0.2f), value(-6.0f, 6.0f);
  std::uniform_int_distribution<int> links(2, 4), pick(0, 7), coin(0, 1);
  const char* unary[] = {"Sigmoid", "Tanh", "HardSwish", "Relu", "Erf", "Neg", "Abs", "Exp"};
  const char* binary[] = {"Add", "Sub", "Mul", "Div"};
  const float constants[] = {3.0f, 0.5f, -2.0f, 6.0f, 1.4142135f, 0.0f};
  int chains = 0, shared = 0;
  for (int iter = 0; iter < 60; ++iter) {
    QdqBuilder q(rng);
    std::string y = q.QuantDequant(q.FloatInput({1, 3, 37}), scale(rng));
    const int n = links(rng);
    const bool share = iter % 4 == 0;
    std::string first;
    for (int i = 0; i < n; ++i) {
      if (coin(rng)) {
        y = q.Node(unary[pick(rng)], {y});
      } else {
        const std::string c = q.Scalar(constants[pick(rng) % 6]);
        const char* op = binary[pick(rng) % 4];
        y = coin(rng) ? q.Node(op, {y, c}) : q.Node(op, {c, y});
      }
      y = q.QuantDequant(y, scale(rng));
      if (i == 0) first = y;
    }
    q.g()->add_output()->set_name(y);
    if (share) q.g()->add_output()->set_name(first);
    const std::string bytes = q.Bytes();
    auto fused = Fused(bytes);
    auto unfused = Unfused(bytes);
    INFO("iteration " << iter << ", " << n << " links" << (share ? ", the first one an output" : ""));
    if (!fused) FAIL(fused.error().message);
    REQUIRE(unfused.has_value());
    // every link a lookup step of its own unfused; fused, one step for the chain (two where the
    // first link's output is a graph output, the first alone unless it is all there is)
    int lookups = 0, joined = 0;
    for (const std::string& st : (*fused)->StepSummary()) {
      const bool convert = st.rfind("QuantizeLinear", 0) == 0 || st.rfind("DequantizeLinear", 0) == 0;
      if (st.find("int8") == std::string::npos || convert) continue;
      ++lookups;
      for (size_t at = st.find(" + "); at != std::string::npos; at = st.find(" + ", at + 3)) ++joined;
    }
    CHECK(lookups == (share ? 2 : 1));
    CHECK(joined == n - lookups);
    chains += lookups == 1;
    shared += share;
    std::vector<std::vector<float>> inputs = {std::vector<float>(111)};
    for (float& v : inputs[0]) v = value(rng);
    CheckUnfusedBits(*fused, *unfused, tiers, inputs);
  }
  CHECK(chains == 45);
  CHECK(shared == 15);
}

TEST_CASE("an int8 Mul of a value and its activation is one lookup unless the activation is read elsewhere", "[engine][fusion][tiers]") {
  // x * gate(x) on a quantized input, the gate an activation or GELU's Phi as the quantizer
  // leaves it (Div by sqrt(2), Erf, Add 1: three lookups, one chain), the operands in either
  // order, a Relu after the Mul half of the time, another lookup after it (a chain); where the
  // gate's output is also a graph output the Mul stays a Mul of two tensors.
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(20261209);
  std::uniform_real_distribution<float> scale(0.005f, 0.2f), value(-6.0f, 6.0f);
  std::uniform_int_distribution<int> coin(0, 1), pick(0, 2);
  const char* gates[] = {"Sigmoid", "Tanh", "HardSigmoid"};
  int folded = 0, kept = 0;
  for (int iter = 0; iter < 48; ++iter) {
    QdqBuilder q(rng);
    const std::string x = q.QuantDequant(q.FloatInput({1, 5, 41}), scale(rng));
    std::string gate;
    if (iter % 3 == 2) {
      const std::string d = q.QuantDequant(q.Node("Div", {x, q.Scalar(1.4142135f)}), scale(rng));
      const std::string e = q.QuantDequant(q.Node("Erf", {d}), 0.008f);
      gate = q.QuantDequant(q.Node("Add", {e, q.Scalar(1.0f)}), 0.008f);
    } else {
      gate = q.QuantDequant(q.Node(gates[pick(rng)], {x}), scale(rng) * 0.1f);
    }
    std::string y = coin(rng) ? q.Node("Mul", {x, gate}) : q.Node("Mul", {gate, x});
    if (coin(rng)) y = q.Node("Relu", {y});
    y = q.QuantDequant(y, scale(rng));
    if (coin(rng)) y = q.QuantDequant(q.Node("Mul", {y, q.Scalar(0.5f)}), scale(rng));
    q.g()->add_output()->set_name(y);
    const bool shared = iter % 4 == 0;
    if (shared) q.g()->add_output()->set_name(gate);
    const std::string bytes = q.Bytes();
    auto fused = Fused(bytes);
    auto unfused = Unfused(bytes);
    INFO("iteration " << iter << (shared ? ", the gate an output" : ""));
    if (!fused) FAIL(fused.error().message);
    REQUIRE(unfused.has_value());
    bool one_lookup = false;
    for (const std::string& st : (*fused)->StepSummary()) one_lookup = one_lookup || st.find("(x * ") != std::string::npos;
    CHECK(one_lookup == !shared);
    folded += one_lookup;
    kept += shared;
    std::vector<std::vector<float>> inputs = {std::vector<float>(205)};
    for (float& v : inputs[0]) v = value(rng);
    CheckUnfusedBits(*fused, *unfused, tiers, inputs);
  }
  CHECK(folded == 36);
  CHECK(kept == 12);
}

TEST_CASE("a lookup step writes over its input where the input dies there", "[engine][fusion]") {
  // QuantizeLinear -> Sigmoid -> Mul by a constant -> DequantizeLinear on 200,704 elements: the
  // float input and output share one place (their lifetimes do not meet) and the int8 values
  // one more: the lookup chain's output takes its input's place (arena_plan.cpp), where the
  // planner alone would need a second int8 slot.
  std::mt19937 rng(7);
  QdqBuilder q(rng);
  auto* in = q.g()->add_input();
  in->set_name("x");
  in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
  for (int64_t d : {1, 64, 56, 56}) shape->add_dim()->set_dim_value(d);
  std::string y = q.QuantDequant(q.Node("Sigmoid", {q.QuantDequant("x", 0.05f)}), 0.004f);
  y = q.QuantDequant(q.Node("Mul", {y, q.Scalar(3.0f)}), 0.012f);
  q.g()->add_output()->set_name(y);
  const std::string bytes = q.Bytes();
  auto model = Fused(bytes);
  if (!model) FAIL(model.error().message);
  const int64_t n = 64 * 56 * 56;
  CHECK((*model)->StepSummary().size() == 3);  // QuantizeLinear, the chain, DequantizeLinear
  CHECK((*model)->arena_bytes() == 4 * n + n);
  std::vector<std::vector<float>> inputs = {std::vector<float>(static_cast<size_t>(n))};
  std::uniform_real_distribution<float> value(-6.0f, 6.0f);
  for (float& v : inputs[0]) v = value(rng);
  auto unfused = Unfused(bytes);
  REQUIRE(unfused.has_value());
  CHECK(SameBits(RunInputs(*model, KernelTier::kScalar, inputs), RunInputs(*unfused, KernelTier::kScalar, inputs)));
}

// Empty tensors between DequantizeLinear and QuantizeLinear: an empty output is a step with
// nothing to do (no scratch is planned for it); a reduction over an empty axis into a non-empty
// output keeps the float step (the extreme of no codes is the float step's infinity).
TEST_CASE("folded ops on empty tensors load and give the unfolded bytes", "[engine][fusion][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(5);
  struct Case {
    const char* op;
    int64_t rows;  // x is [rows, 1]; the empty constant [1, 0] makes x + c [rows, 0]
  };
  for (const Case& c : {Case{"ReduceMax", 2}, Case{"ReduceMin", 2}, Case{"ReduceMax", 0}, Case{"Softmax", 2},
                        Case{"Pow", 2}, Case{"Relu", 2}}) {
    QdqBuilder q(rng);
    auto* in = q.g()->add_input();
    in->set_name("x");
    in->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
    auto* shape = in->mutable_type()->mutable_tensor_type()->mutable_shape();
    shape->add_dim()->set_dim_value(std::max<int64_t>(c.rows, 1));
    shape->add_dim()->set_dim_value(1);
    auto* empty = q.g()->add_initializer();
    empty->set_name("empty");
    empty->set_data_type(onnx::TensorProto::FLOAT);
    empty->add_dims(c.rows == 0 ? 0 : 1);
    empty->add_dims(0);
    const std::string xa = q.QuantDequant("x", 0.05f);
    std::string y = q.QuantDequant(q.Node("Add", {xa, "empty"}), 0.05f);
    const std::string op = c.op;
    if (op == "Pow") {
      y = q.Node("Pow", {y, q.Scalar(2.0f)});
    } else {
      y = q.Node(op, {y});
      if (op.rfind("Reduce", 0) == 0) {
        q.Attr("axes", std::vector<int64_t>{1});
        q.Attr("keepdims", 1);
      }
    }
    y = q.QuantDequant(y, 0.05f);
    q.g()->add_output()->set_name(y);
    const std::string bytes = q.Bytes();
    auto fused = Fused(bytes);
    auto unfused = Unfused(bytes);
    INFO(op << " rows " << c.rows);
    if (!fused) FAIL(fused.error().message);
    if (!unfused) FAIL(unfused.error().message);
    const std::vector<std::vector<float>> inputs = {std::vector<float>(static_cast<size_t>(std::max<int64_t>(c.rows, 1)), 0.3f)};
    const std::vector<float> expected = RunInputs(*unfused, KernelTier::kScalar, inputs);
    CHECK(expected.size() == (op.rfind("Reduce", 0) == 0 && c.rows > 0 ? 2u : 0u));
    for (KernelTier tier : tiers) {
      INFO("tier " << KernelTierName(tier));
      CHECK(SameBits(RunInputs(*fused, tier, inputs), expected));
    }
  }
}

TEST_CASE("a requantization multiplier that overflows fails the load, naming the conv", "[engine][fusion]") {
  std::mt19937 rng(99);
  Block b;
  b.residual = false;
  b.hardswish = false;
  b.x_scale = 1e15f;  // each scale (and the bias scale x * w) finite and positive; x * w / y is not
  b.w_scale = 1e15f;
  b.y_scale = 1e-20f;
  const std::string bytes = MakeBlock(b, rng);
  auto model = Fused(bytes);
  REQUIRE_FALSE(model.has_value());
  CHECK_THAT(model.error().message, Catch::Matchers::Contains("Conv") &&
                                        Catch::Matchers::Contains("requantization multiplier") &&
                                        Catch::Matchers::Contains("not finite"));
}

}  // namespace edge::engine::testing
