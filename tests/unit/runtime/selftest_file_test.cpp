#include "agent/runtime/selftest_file.h"

#include <catch2/catch.hpp>
#include <cstring>

#include "tests/unit/runtime/runtime_fixtures.h"

using namespace edge;
using namespace edge::runtime;
using namespace edge::runtime::testing;
using Catch::Matchers::Contains;

namespace {

// A one-case self-test for `model` written by hand: every input and output filled with `value`.
std::string HandWritten(const engine::Model& model, const std::string& value = "0.5") {
  auto fill = [&](const std::vector<engine::TensorInfo>& tensors) {
    std::string s = "{";
    for (size_t t = 0; t < tensors.size(); ++t) {
      s += (t ? ",\"" : "\"") + tensors[t].name + "\":[";
      for (int64_t i = 0; i < tensors[t].elements; ++i) s += (i ? "," : "") + value;
      s += "]";
    }
    return s + "}";
  };
  return "{\"schema\":1,\"cases\":[{\"inputs\":" + fill(model.inputs()) +
         ",\"outputs\":" + fill(model.outputs()) + "}]}";
}

std::string ParseError(std::string_view text, const engine::Model& model) {
  auto parsed = ParseSelfTest(text, model);
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error().code == ErrorCode::kInvalidArgument);
  return parsed.error().message;
}

std::string Replace(std::string s, const std::string& from, const std::string& to) {
  const auto at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

}  // namespace

TEST_CASE("a self-test written by the writer reads back bit-exactly", "[selftest]") {
  for (const std::string name : {"mlp_anomaly", "ds_cnn_kws"}) {
    INFO(name);
    auto model = LoadZooModel(name);
    const SelfTest original = ZooSelfTest(model, name);
    REQUIRE(original.cases.size() == 4);
    auto parsed = ParseSelfTest(SerializeOrDie(original, *model), *model);
    INFO((parsed ? "" : parsed.error().message));
    REQUIRE(parsed.has_value());
    REQUIRE(parsed->cases.size() == original.cases.size());
    for (size_t c = 0; c < original.cases.size(); ++c) {
      for (size_t t = 0; t < original.cases[c].inputs.size(); ++t) {
        const auto& a = original.cases[c].inputs[t];
        const auto& b = parsed->cases[c].inputs[t];
        REQUIRE(a.size() == b.size());
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
      }
      for (size_t t = 0; t < original.cases[c].outputs.size(); ++t) {
        const auto& a = original.cases[c].outputs[t];
        const auto& b = parsed->cases[c].outputs[t];
        REQUIRE(a.size() == b.size());
        CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
      }
    }
  }
}

TEST_CASE("a hand-written self-test with integers and exponents parses", "[selftest]") {
  auto model = LoadZooModel("mlp_anomaly");
  CHECK(ParseSelfTest(HandWritten(*model, "1"), *model).has_value());
  CHECK(ParseSelfTest(HandWritten(*model, "-2.5e-3"), *model).has_value());
}

TEST_CASE("malformed self-tests are rejected with the field named", "[selftest]") {
  auto model = LoadZooModel("mlp_anomaly");
  const std::string good = HandWritten(*model);
  const std::string in = model->inputs().at(0).name;
  const std::string out = model->outputs().at(0).name;
  REQUIRE(ParseSelfTest(good, *model).has_value());

  SECTION("unknown top-level key") {
    CHECK_THAT(
        ParseError(Replace(good, "{\"schema\":1", "{\"schema\":1,\"tolerance\":0.1"), *model),
        Contains("selftest: unknown key 'tolerance'"));
  }
  SECTION("unknown key in a case") {
    CHECK_THAT(ParseError(Replace(good, "{\"inputs\":", "{\"note\":\"x\",\"inputs\":"), *model),
               Contains("selftest.cases[0]: unknown key 'note'"));
  }
  SECTION("missing outputs") {
    CHECK_THAT(ParseError("{\"schema\":1,\"cases\":[{\"inputs\":{}}]}", *model),
               Contains("selftest.cases[0].outputs: missing required field"));
  }
  SECTION("unsupported schema") {
    CHECK_THAT(ParseError(Replace(good, "\"schema\":1", "\"schema\":2"), *model),
               Contains("unsupported schema 2"));
  }
  SECTION("no cases") {
    CHECK_THAT(ParseError("{\"schema\":1,\"cases\":[]}", *model),
               Contains("selftest.cases: must be a non-empty array"));
  }
  SECTION("wrong input name") {
    CHECK_THAT(ParseError(Replace(good, "\"" + in + "\"", "\"not_an_input\""), *model),
               Contains("unknown input 'not_an_input'") && Contains("'" + in + "'"));
  }
  SECTION("wrong element count") {
    CHECK_THAT(
        ParseError(Replace(good, "[0.5,", "["), *model),
        Contains("selftest.cases[0].inputs." + in + ": " +
                 std::to_string(model->inputs()[0].elements - 1) + " values, the model's input '" +
                 in + "' has " + std::to_string(model->inputs()[0].elements)));
  }
  SECTION("an output missing") {
    CHECK_THAT(ParseError(Replace(good, "\"" + out + "\"", "\"extra\""), *model),
               Contains("unknown output 'extra'"));
  }
  SECTION("NaN is not JSON") {
    CHECK_THAT(ParseError(Replace(good, "[0.5,", "[NaN,"), *model), Contains("invalid JSON"));
  }
  SECTION("a number beyond float32 is not finite") {
    CHECK_THAT(ParseError(Replace(good, "[0.5,", "[1e39,"), *model),
               Contains("selftest.cases[0].inputs." + in + "[0]: not a finite float32"));
  }
  SECTION("a string value") {
    CHECK_THAT(ParseError(Replace(good, "[0.5,", "[\"0.5\","), *model),
               Contains("[0]: must be a number"));
  }
  SECTION("duplicate key") {
    CHECK_THAT(ParseError(Replace(good, "{\"schema\":1", "{\"schema\":1,\"schema\":1"), *model),
               Contains("duplicate key 'schema'"));
  }
  SECTION("too deep") {
    CHECK_THAT(ParseError(std::string(100, '[') + std::string(100, ']'), *model),
               Contains("nested deeper"));
  }
  SECTION("too large") {
    CHECK_THAT(ParseError(std::string(kMaxSelfTestBytes + 1, ' '), *model),
               Contains("exceeds the limit"));
  }
}

TEST_CASE("the writer refuses what the reader would refuse", "[selftest]") {
  auto model = LoadZooModel("mlp_anomaly");
  SelfTest selftest = ZooSelfTest(model, "mlp_anomaly");
  SECTION("NaN in an expected output") {
    selftest.cases[2].outputs[0][1] = std::numeric_limits<float>::quiet_NaN();
    auto text = SerializeSelfTest(selftest, *model);
    REQUIRE_FALSE(text.has_value());
    CHECK_THAT(text.error().message,
               Contains("selftest.cases[2].outputs." + model->outputs()[0].name + "[1]"));
  }
  SECTION("wrong element count") {
    selftest.cases[0].inputs[0].pop_back();
    CHECK_FALSE(SerializeSelfTest(selftest, *model).has_value());
  }
  SECTION("no cases") { CHECK_FALSE(SerializeSelfTest(SelfTest{}, *model).has_value()); }
}

TEST_CASE("GenerateSelfTest checks its inputs against the model", "[selftest]") {
  auto model = LoadZooModel("mlp_anomaly");
  engine::NpyArray bad{{3}, {1.0f, 2.0f, 3.0f}};
  auto selftest = GenerateSelfTest(model, {bad}, engine::KernelTier::kAuto);
  REQUIRE_FALSE(selftest.has_value());
  CHECK_THAT(selftest.error().message,
             Contains("needs a multiple of " + std::to_string(model->inputs()[0].elements)));
  CHECK_FALSE(GenerateSelfTest(model, {}, engine::KernelTier::kAuto).has_value());
}
