// RNN, GRU and LSTM (ops/recurrent.cpp): the cells of tests/models/recurrent against ONNX
// Runtime's outputs, the batch-first layout against the sequence-first one, every tier against
// the scalar one, and the refusals.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

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

TEST_CASE("run-time sequence lengths outside 0..seq are clamped, and a length of 0 keeps the initial state", "[engine][recurrent]") {
  auto model = LoadOrDie(CasePath("lstm_runtime_states.onnx"));
  auto inputs = CaseInputs("lstm_runtime_states", *model);
  // inputs: X [6, 2, 3], sequence_lens [2], initial_h [1, 2, 4], initial_c [1, 2, 4]
  REQUIRE(inputs.at(1).size() == 2);
  inputs[1] = {0.0f, 6.0f};
  const auto base = RunAll(model, inputs);
  inputs[1] = {-5.0f, 1000.0f};
  CHECK(RunAll(model, inputs) == base);
  // batch row 0 ran no step: Y is zero there, Y_h and Y_c are its initial state
  const auto& y = base[0];
  for (int64_t t = 0; t < 6; ++t) {
    for (int64_t j = 0; j < 4; ++j) CHECK(y[static_cast<size_t>((t * 2 + 0) * 4 + j)] == 0.0f);
  }
  for (int64_t j = 0; j < 4; ++j) {
    CHECK(base[1][static_cast<size_t>(j)] == inputs[2][static_cast<size_t>(j)]);
    CHECK(base[2][static_cast<size_t>(j)] == inputs[3][static_cast<size_t>(j)]);
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

}  // namespace
}  // namespace edge::engine::testing
