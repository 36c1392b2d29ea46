// RNN, GRU and LSTM (ops/recurrent.cpp): the cells of tests/models/recurrent against ONNX
// Runtime's outputs, the batch-first layout against the sequence-first one, every tier against
// the scalar one, and the refusals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "agent/engine/kernels/elementwise.h"
#include "tests/unit/engine/onnx_builder.h"
#include "tests/unit/engine/test_support.h"
#include "tests/unit/engine/tiers.h"

namespace edge::engine::testing {
namespace {

std::string CasePath(const std::string& file) { return std::string(EDGE_RECURRENT_DIR) + "/" + file; }

// The model's inputs from NAME.in<k>.npy.
std::vector<std::vector<float>> CaseInputs(const std::string& name, const Model& model) {
  std::vector<std::vector<float>> inputs;
  for (size_t k = 0; k < model.inputs().size(); ++k) {
    NpyArray a = ReadOrDie(CasePath(name + ".in" + std::to_string(k) + ".npy"));
    REQUIRE(static_cast<int64_t>(a.data.size()) == model.inputs()[k].elements);
    inputs.push_back(std::move(a.data));
  }
  return inputs;
}

// The cases with ONNX Runtime's outputs (the batch-first twins have none: ORT refuses layout 1).
std::vector<std::string> GoldenCases() {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(EDGE_RECURRENT_DIR)) {
    const std::string file = e.path().filename().string();
    if (file.size() > 5 && file.ends_with(".onnx") && file.find("_batch_first") == std::string::npos) {
      names.push_back(file.substr(0, file.size() - 5));
    }
  }
  std::sort(names.begin(), names.end());
  return names;
}

TEST_CASE("RNN, GRU and LSTM cells match ONNX Runtime, the same at every tier", "[engine][recurrent][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  const std::vector<std::string> cases = GoldenCases();
  REQUIRE(cases.size() >= 9);
  for (const std::string& name : cases) {
    DYNAMIC_SECTION(name) {
      auto model = LoadOrDie(CasePath(name + ".onnx"));
      CHECK(HasStep(*model, "float)"));
      const auto inputs = CaseInputs(name, *model);
      const auto reference = RunAll(model, inputs, KernelTier::kScalar);
      for (size_t k = 0; k < reference.size(); ++k) {
        const NpyArray want = ReadOrDie(CasePath(name + ".out" + std::to_string(k) + ".npy"));
        REQUIRE(want.data.size() == reference[k].size());
        for (size_t i = 0; i < want.data.size(); ++i) {
          INFO(name << " output " << k << " element " << i << ": engine " << reference[k][i] << ", ORT " << want.data[i]);
          CHECK(std::abs(reference[k][i] - want.data[i]) <= 1e-6f + 1e-5f * std::abs(want.data[i]));
        }
      }
      for (KernelTier tier : tiers) {
        INFO("tier " << KernelTierName(tier));
        CHECK(RunAll(model, inputs, tier) == reference);
      }
    }
  }
}

TEST_CASE("a batch-first cell gives the outputs of its sequence-first twin, transposed", "[engine][recurrent]") {
  for (const std::string name : {"gru_lbr", "lstm_input_forget", "lstm_runtime_states"}) {
    DYNAMIC_SECTION(name) {
      auto seq_first = LoadOrDie(CasePath(name + ".onnx"));
      auto batch_first = LoadOrDie(CasePath(name + "_batch_first.onnx"));
      const auto want = RunAll(seq_first, CaseInputs(name, *seq_first));
      const auto got = RunAll(batch_first, CaseInputs(name + "_batch_first", *batch_first));
      REQUIRE(got.size() == want.size());
      for (size_t k = 0; k < got.size(); ++k) {
        // Y: [seq, dirs, batch, h] -> [batch, seq, dirs, h]; Y_h, Y_c: [dirs, batch, h] -> [batch, dirs, h]
        const std::vector<int64_t>& s = seq_first->outputs()[k].shape;
        const bool is_y = s.size() == 4;
        const int64_t lead = is_y ? s[0] * s[1] : s[0], batch = is_y ? s[2] : s[1], h = s.back();
        REQUIRE(batch_first->outputs()[k].shape ==
                (is_y ? std::vector<int64_t>{batch, s[0], s[1], h} : std::vector<int64_t>{batch, s[0], h}));
        for (int64_t a = 0; a < lead; ++a) {
          for (int64_t b = 0; b < batch; ++b) {
            for (int64_t j = 0; j < h; ++j) {
              INFO("output " << k << " (" << a << ", " << b << ", " << j << ")");
              CHECK(got[k][static_cast<size_t>((b * lead + a) * h + j)] == want[k][static_cast<size_t>((a * batch + b) * h + j)]);
            }
          }
        }
      }
    }
  }
}

TEST_CASE("run-time sequence lengths outside 0..seq are clamped, and a length of 0 gives zero states", "[engine][recurrent]") {
  auto model = LoadOrDie(CasePath("lstm_runtime_states.onnx"));
  auto inputs = CaseInputs("lstm_runtime_states", *model);
  // inputs: X [6, 2, 3], sequence_lens [2], initial_h [1, 2, 4], initial_c [1, 2, 4]
  REQUIRE(inputs.at(1).size() == 2);
  inputs[1] = {0.0f, 6.0f};
  const auto base = RunAll(model, inputs);
  inputs[1] = {-5.0f, 1000.0f};
  CHECK(RunAll(model, inputs) == base);
  // batch row 0 ran no step: Y, Y_h and Y_c are zero there (ONNX Runtime's reading)
  const auto& y = base[0];
  for (int64_t t = 0; t < 6; ++t) {
    for (int64_t j = 0; j < 4; ++j) CHECK(y[static_cast<size_t>((t * 2 + 0) * 4 + j)] == 0.0f);
  }
  for (int64_t j = 0; j < 4; ++j) {
    CHECK(base[1][static_cast<size_t>(j)] == 0.0f);
    CHECK(base[2][static_cast<size_t>(j)] == 0.0f);
  }
}

// A GRU of hidden size 2 on [seq 3, batch 1, input 2], with `edit` applied to its node.
Builder Gru(const std::function<void(Builder&, onnx::NodeProto*)>& edit) {
  Builder b(14);
  b.Input("x", {3, 1, 2}).Init("w", {1, 6, 2}, std::vector<float>(12, 0.1f)).Init("r", {1, 6, 2}, std::vector<float>(12, 0.2f));
  b.Output("y");
  onnx::NodeProto* n = b.Node("GRU", {"x", "w", "r"}, {"y"});
  edit(b, n);
  return b;
}

TEST_CASE("recurrent cells the engine cannot run are refused with the reason", "[engine][recurrent]") {
  CHECK_NOTHROW(LoadOk(Gru([](Builder&, onnx::NodeProto*) {})));
  auto strings = [](onnx::NodeProto* n, const std::string& name, const std::vector<std::string>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::STRINGS);
    for (const auto& s : v) a->add_strings(s);
  };
  CHECK_THAT(LoadError(Gru([&](Builder&, onnx::NodeProto* n) { strings(n, "activations", {"Sigmoid", "ScaledTanh"}); })),
             Catch::Contains("activation 'ScaledTanh' is not supported"));
  CHECK_THAT(LoadError(Gru([&](Builder&, onnx::NodeProto* n) { strings(n, "activations", {"Sigmoid"}); })),
             Catch::Contains("names 1 functions; GRU takes 2 per direction"));
  CHECK_THAT(LoadError(Gru([&](Builder&, onnx::NodeProto* n) {
               strings(n, "activations", {"Sigmoid", "Tanh"});
               FloatsAttr(n, "activation_alpha", {0.5f});
             })),
             Catch::Contains("give more values than the activations take"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { StrAttr(n, "activations", "Tanh"); })),
             Catch::Contains("attribute 'activations' is a string; ONNX defines it as a list of strings"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { FloatAttr(n, "clip", 0.0f); })),
             Catch::Contains("attribute 'clip' must be above 0"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { StrAttr(n, "direction", "sideways"); })),
             Catch::Contains("must be forward, reverse or bidirectional, not 'sideways'"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { IntAttr(n, "hidden_size", 3); })),
             Catch::Contains("attribute 'hidden_size' is 3 but R is [1, 6, 2]"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { IntAttr(n, "layout", 2); })),
             Catch::Contains("attribute 'layout' must be 0 or 1"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { IntAttr(n, "input_forget", 1); })),
             Catch::Contains("unsupported attribute 'input_forget'"));
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.Input("w2", {1, 6, 2});
               n->set_input(1, "w2");
             })),
             Catch::Contains("W must be a constant"));
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.Init("b", {1, 6}, std::vector<float>(6, 0.0f));
               n->add_input("b");
             })),
             Catch::Contains("B is [1, 6], expected [1, 12] (forward, 3 gate(s) of hidden size 2, input size 2)"));
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.InitInts("lens", {1}, {4}, onnx::TensorProto::INT32);
               n->add_input("");
               n->add_input("lens");
             })),
             Catch::Contains("sequence_lens[0] is 4, outside [0, 3]"));
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.Init("h0", {1, 2, 2}, std::vector<float>(4, 0.0f));
               n->add_input("");
               n->add_input("");
               n->add_input("h0");
             })),
             Catch::Contains("initial_h is [1, 2, 2], expected [1, 1, 2]"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) {
               for (int k = 0; k < 4; ++k) n->add_input("");
             })),
             Catch::Contains("takes at most 6 inputs"));
}


// Hostile-input review (branch hostile-recurrent): inputs of the wrong type, size or shape are
// refused at load with a message naming the problem, never run.
TEST_CASE("hostile recurrent inputs are refused at load with the problem named", "[engine][recurrent]") {
  // sequence_lens must be int32 (ONNX's T1), as a constant or as a graph input
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.InitInts("lens", {1}, {3}, onnx::TensorProto::INT64);
               n->add_input("");
               n->add_input("lens");
             })),
             Catch::Contains("'lens' is int64 where int32 is expected"));
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.Input("lens", {1}, onnx::TensorProto::INT64);
               n->add_input("");
               n->add_input("lens");
             })),
             Catch::Contains("'lens' must be int32"));
  // a constant length beyond int32 is named as given, not wrapped
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.InitInts("lens", {1}, {(int64_t{1} << 32) + 1}, onnx::TensorProto::INT64);
               n->add_input("");
               n->add_input("lens");
             })),
             Catch::Contains("sequence_lens[0] is 4294967297, outside [0, 3]"));
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.InitInts("lens", {}, {1}, onnx::TensorProto::INT32);
               n->add_input("");
               n->add_input("lens");
             })),
             Catch::Contains("sequence_lens is [], expected [1]"));
  // float16 states, int8 X
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.Input("h0", {1, 1, 2}, onnx::TensorProto::FLOAT16);
               n->add_input("");
               n->add_input("");
               n->add_input("h0");
             })),
             Catch::Contains("input 'h0' is float16"));
  // hidden size 0, NaN clip, a P on a GRU
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.Init("r0", {1, 0, 0}, {});
               b.Init("w0", {1, 0, 2}, {});
               n->set_input(1, "w0");
               n->set_input(2, "r0");
             })),
             Catch::Contains("hidden size must be at least 1"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { FloatAttr(n, "clip", std::nanf("")); })),
             Catch::Contains("attribute 'clip' must be above 0"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { n->add_output("y_h"); n->add_output("y_c"); })),
             Catch::Contains("has at most 2 outputs"));
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { n->add_output("y"); })), Catch::Contains("'y' is defined twice"));
}

TEST_CASE("a small recurrent model asking for a huge sequence is refused by the load limits", "[engine][recurrent]") {
  // LSTM, hidden 64, input 1: a 66 KB file whose scratch (seq x batch x 4 x 64 floats) dominates
  auto lstm = [](int64_t seq, int64_t batch) {
    Builder b(14);
    b.Input("x", {seq, batch, 1}).Init("w", {1, 256, 1}, std::vector<float>(256, 0.0f)).Init("r", {1, 256, 64}, std::vector<float>(256 * 64, 0.0f));
    b.Output("y_h");
    b.Node("LSTM", {"x", "w", "r"}, {"", "y_h"});
    return b;
  };
  CHECK_THAT(LoadError(lstm(int64_t{1} << 13, 256)), Catch::Contains("above the limit of 1073741824"));
  CHECK_THAT(LoadError(lstm(int64_t{1} << 14, 256)), Catch::Contains("LoadOptions::max_work"));
  CHECK_THAT(LoadError(lstm(int64_t{1} << 31, int64_t{1} << 31)), Catch::Contains("too large"));
}

// Findings of the hostile review.
TEST_CASE("a W of int8 codes without DequantizeLinear is refused", "[engine][recurrent]") {
  // ONNX types W as float; ORT and onnx.checker refuse int8. The engine reads the codes as floats.
  CHECK_THAT(LoadError(Gru([](Builder& b, onnx::NodeProto* n) {
               b.InitI8("w8", {1, 6, 2}, std::vector<int>(12, 100));
               n->set_input(1, "w8");
             })),
             Catch::Contains("W is int8; ONNX defines it as float"));
}

TEST_CASE("linear_before_reset and input_forget outside 0 and 1 are refused like layout", "[engine][recurrent]") {
  CHECK_THAT(LoadError(Gru([](Builder&, onnx::NodeProto* n) { IntAttr(n, "linear_before_reset", 2); })),
             Catch::Contains("attribute 'linear_before_reset' must be 0 or 1"));
  Builder b(14);
  b.Input("x", {1, 1, 1}).Init("w", {1, 4, 1}, std::vector<float>(4, 1.0f)).Init("r", {1, 4, 1}, std::vector<float>(4, 0.0f));
  b.Output("y");
  IntAttr(b.Node("LSTM", {"x", "w", "r"}, {"y"}), "input_forget", 5);
  CHECK_THAT(LoadError(b), Catch::Contains("attribute 'input_forget' must be 0 or 1"));
}

TEST_CASE("Y_h of a batch row of length 0 is zero, as ONNX Runtime gives", "[engine][recurrent]") {
  Builder b(14);
  b.Input("x", {3, 2, 1}).Input("h0", {1, 2, 1}).Init("w", {1, 1, 1}, {1.0f}).Init("r", {1, 1, 1}, {0.5f});
  b.InitInts("lens", {2}, {0, 3}, onnx::TensorProto::INT32);
  b.Output("y_h");
  b.Node("RNN", {"x", "w", "r", "", "lens", "h0"}, {"", "y_h"});
  const auto out = RunAll(LoadOk(b), {{0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}, {7.0f, 0.0f}});
  CHECK(out.at(0).at(0) == 0.0f);  // not the initial state, 7
}

TEST_CASE("Affine without activation_alpha takes ONNX's defaults, not ONNX Runtime's 0 x + 0", "[engine][recurrent]") {
  // ONNX says the defaults are the standalone operators' (Affine: alpha 1, beta 0), which the
  // engine takes; ONNX Runtime's RNN kernels default every unlisted alpha and beta to 0 except
  // LeakyRelu, HardSigmoid and Elu, so ThresholdedRelu is x >= 0 there and Affine is 0
  // (docs/engine.md).
  Builder b(14);
  b.Input("x", {1, 1, 1}).Init("w", {1, 1, 1}, {1.0f}).Init("r", {1, 1, 1}, {0.0f});
  b.Output("y");
  auto* n = b.Node("RNN", {"x", "w", "r"}, {"y"});
  auto* a = n->add_attribute();
  a->set_name("activations");
  a->set_type(onnx::AttributeProto::STRINGS);
  a->add_strings("Affine");
  CHECK(RunAll(LoadOk(b), {{0.5f}}).at(0).at(0) == 0.5f);
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

// The distance in float ulps between a and the double b rounded to float (same sign assumed
// where both are non-zero; the order of the bit patterns of non-negative floats is their order).
int64_t UlpsFrom(float a, double b) {
  const auto key = [](float f) {
    const auto u = static_cast<int64_t>(std::bit_cast<uint32_t>(f));
    return f < 0.0f ? -(u & 0x7fffffff) : u & 0x7fffffff;
  };
  return std::abs(key(a) - key(static_cast<float>(b)));
}

TEST_CASE("a cell's Sigmoid and Tanh are within 4 ulps of the exact functions, the same bits at every tier",
          "[engine][recurrent][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  // every 4099th bit pattern plus the branch points and the ends of the clamped range
  std::vector<float> x;
  for (uint64_t u = 0; u <= 0xffffffffu; u += 4099) x.push_back(std::bit_cast<float>(static_cast<uint32_t>(u)));
  for (float v : {0.0f, -0.0f, 0.5f, -0.5f, 87.0f, -87.0f, 88.0f, 44.0f, 1e-30f, INFINITY, -INFINITY, NAN}) {
    x.push_back(v);
    x.push_back(std::nextafter(v, 0.0f));
    x.push_back(std::nextafter(v, INFINITY));
  }
  std::vector<float> sig(x.size()), tanh(x.size());
  CellActivationScalar(CellActivation::kSigmoid, x.data(), static_cast<int64_t>(x.size()), sig.data());
  CellActivationScalar(CellActivation::kTanh, x.data(), static_cast<int64_t>(x.size()), tanh.data());
  int64_t worst_sig = 0, worst_tanh = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    if (std::isnan(v)) {
      CHECK(std::isnan(sig[i]));
      CHECK(std::isnan(tanh[i]));
      continue;
    }
    INFO("x = " << x[i] << ": sigmoid " << sig[i] << ", tanh " << tanh[i]);
    // below -87 the cell's e^-x saturates at e^87: its Sigmoid stays at 1 / (1 + e^87) there
    if (v >= -87.0) worst_sig = std::max(worst_sig, UlpsFrom(sig[i], 1.0 / (1.0 + std::exp(-v))));
    worst_tanh = std::max(worst_tanh, UlpsFrom(tanh[i], std::tanh(v)));
    CHECK(std::signbit(tanh[i]) == std::signbit(x[i]));
  }
  CHECK(worst_sig <= 4);
  CHECK(worst_tanh <= 4);
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t n : {int64_t{1}, int64_t{7}, int64_t{16}, int64_t{37}, static_cast<int64_t>(x.size())}) {
      for (CellActivation f : {CellActivation::kSigmoid, CellActivation::kTanh}) {
        std::vector<float> got(static_cast<size_t>(n) + 1, 12345.0f);
        k.cell_activation(f, x.data(), n, got.data());
        const std::vector<float>& want = f == CellActivation::kSigmoid ? sig : tanh;
        INFO("tier " << KernelTierName(tier) << ", n = " << n);
        CHECK(got.back() == 12345.0f);  // nothing written past n
        CHECK(std::memcmp(got.data(), want.data(), static_cast<size_t>(n) * sizeof(float)) == 0);
      }
    }
  }
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

// x and w end at (or start right after) an inaccessible page, y's gaps between rows and the 8
// floats after it hold a canary: the kernel reads no float of w past its n columns of the last
// row, none of x past its rows, writes nothing but the outputs. One case in three has special
// values (signed zeros, denormals, infinities, NaNs, products that overflow or underflow):
// equal bits, except that where two NaNs meet in one sum either one's payload may come out (x86
// returns the first operand's, and the compiler orders a commutative multiply or add), so NaN
// outputs are compared as NaNs. Also m, rows and n of 0.
TEST_CASE("the rows-times-matrix kernel gives the scalar loop's bits at every tier, width and row count",
          "[engine][recurrent][tiers]") {
  EDGE_TIERS_UNDER_TEST(tiers, EDGE_ALL_TIERS);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-2.0f, 2.0f);
  const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-42f, INFINITY, -INFINITY, NAN, 3e38f, -3e38f, 1e-30f};
  constexpr float kCanary = 12345.0f;
  int trial = 0;
  for (KernelTier tier : tiers) {
    const ElementwiseKernels& k = ElementwiseForTier(tier);
    for (int64_t n : {0, 1, 7, 8, 15, 16, 17, 31, 48, 63, 64, 65, 80, 96, 112, 128, 131, 200, 256, 300, 501}) {
      for (int64_t rows : {0, 1, 3, 32}) {
        for (int64_t m : {0, 1, 2, 3, 4, 5, 7, 9, 13}) {
          ++trial;
          const bool special = trial % 3 == 0, at_end = trial % 2 == 0;
          const auto draw = [&] { return special && rng() % 4 == 0 ? specials[rng() % 10] : value(rng); };
          // a column block of a wider matrix (as the GRU's candidate rows), strided rows of x
          // and y (as the time steps of a batch row)
          const int64_t ldw = n + 5, ldx = rows + 2, ldy = n + 3;
          std::vector<float> x(static_cast<size_t>(std::max<int64_t>(m * ldx, 1))), w(static_cast<size_t>(std::max<int64_t>(rows * ldw, 1)));
          for (float& v : x) v = draw();
          for (float& v : w) v = draw();
          // exactly the floats read: the last row of x ends at its `rows`, w's at column n
          const size_t x_len = m > 0 ? static_cast<size_t>((m - 1) * ldx + rows) : 0;
          const size_t w_len = rows > 0 ? static_cast<size_t>((rows - 1) * ldw + n) : 0;
          const GuardedBuffer gx(std::max<size_t>(x_len, 1) * sizeof(float), at_end, x.data());
          const GuardedBuffer gw(std::max<size_t>(w_len, 1) * sizeof(float), at_end, w.data());
          std::vector<float> want(static_cast<size_t>(m * ldy + 8), kCanary), got(want.size(), kCanary);
          for (int64_t i = 0; i < m; ++i) RowTimesMatrixLoop(x.data() + i * ldx, rows, w.data(), ldw, n, want.data() + i * ldy);
          k.rows_times_matrix(gx.as<float>(), m, ldx, rows, gw.as<float>(), ldw, n, got.data(), ldy);
          INFO("tier " << KernelTierName(tier) << ", n = " << n << ", rows = " << rows << ", m = " << m
                       << (special ? ", special values" : ""));
          bool same = true;
          for (size_t i = 0; i < want.size(); ++i) {
            same = same && (std::isnan(want[i]) ? std::isnan(got[i]) : std::memcmp(&want[i], &got[i], sizeof(float)) == 0);
          }
          CHECK(same);
        }
      }
    }
  }
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

// A GRU of hidden size 2 over x [seq, batch, 2] (layout 0) or [batch, seq, 2] (layout 1) whose
// leading dimension is symbolic ("N").
Builder DynamicGru(int64_t layout) {
  Builder b(14);
  b.Input("x", {1, 3, 2}).Init("w", {1, 6, 2}, std::vector<float>(12, 0.1f)).Init("r", {1, 6, 2}, std::vector<float>(12, 0.2f));
  auto* dim = b.proto().mutable_graph()->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0);
  dim->clear_dim_value();
  dim->set_dim_param("N");
  b.Output("y");
  IntAttr(b.Node("GRU", {"x", "w", "r"}, {"y"}), "layout", layout);
  return b;
}

TEST_CASE("a symbolic leading dimension that is a cell's sequence axis is refused, a batch axis runs", "[engine][recurrent]") {
  CHECK_THAT(LoadError(DynamicGru(0)), Catch::Contains("its sequence axis is the inputs' symbolic leading dimension"));
  auto model = LoadOk(DynamicGru(1));
  REQUIRE(model->dynamic_batch());
  // a batch of 2 gives each sample's own outputs
  const std::vector<float> a = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f}, b = {1.0f, 0.5f, -0.25f, 0.0f, 0.75f, -1.0f};
  std::vector<float> both = a;
  both.insert(both.end(), b.begin(), b.end());
  const auto ya = RunAll(model, {a}).at(0), yb = RunAll(model, {b}).at(0);
  std::vector<float> y(ya.size() * 2);
  ExecutionContext ctx(model);
  const float* in[] = {both.data()};
  float* out[] = {y.data()};
  REQUIRE(ctx.RunBatch(2, in, out).has_value());
  CHECK(std::vector<float>(y.begin(), y.begin() + static_cast<std::ptrdiff_t>(ya.size())) == ya);
  CHECK(std::vector<float>(y.begin() + static_cast<std::ptrdiff_t>(ya.size()), y.end()) == yb);
}

}  // namespace
}  // namespace edge::engine::testing

namespace edge::engine::testing {
namespace {

TEST_CASE("a bidirectional cell given one direction's activations uses them, alphas included, for both",
          "[engine][recurrent]") {
  auto run = [](const std::vector<std::string>& names, const std::vector<float>& alphas) {
    Builder b(14);
    b.Input("x", {3, 1, 2}).Init("w", {2, 2, 2}, {0.5f, -1, 1, 0.25f, -0.5f, 1, 2, -1}).Init("r", {2, 2, 2}, {0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f});
    b.Output("y");
    auto* n = b.Node("RNN", {"x", "w", "r"}, {"y"});
    StrAttr(n, "direction", "bidirectional");
    auto* a = n->add_attribute();
    a->set_name("activations");
    a->set_type(onnx::AttributeProto::STRINGS);
    for (const auto& s : names) a->add_strings(s);
    FloatsAttr(n, "activation_alpha", alphas);
    return RunAll(LoadOk(b), {{1.0f, -2.0f, 0.5f, 3.0f, -1.5f, -0.25f}}).at(0);
  };
  const auto shared = run({"LeakyRelu"}, {0.3f});
  CHECK(shared == run({"LeakyRelu", "LeakyRelu"}, {0.3f, 0.3f}));
  CHECK(shared != run({"LeakyRelu", "LeakyRelu"}, {0.3f, 0.01f}));  // the default would differ
}

}  // namespace
}  // namespace edge::engine::testing
