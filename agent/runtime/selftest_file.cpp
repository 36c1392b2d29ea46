#include "agent/runtime/selftest_file.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/bundle/bundle.h"
#include "common/core/fs.h"

namespace edge::runtime {
namespace {

using engine::TensorInfo;
using nlohmann::json;

tl::unexpected<Error> Invalid(const std::string& field, std::string_view problem) {
  return Fail(ErrorCode::kInvalidArgument, field + ": " + std::string(problem));
}

std::string NameList(const std::vector<TensorInfo>& tensors) {
  std::string s;
  for (const auto& t : tensors) s += (s.empty() ? "'" : ", '") + t.name + "'";
  return s;
}

// Keys outside `allowed` are errors: a misspelt key must not silently test nothing.
Status CheckKeys(const json& object, const std::string& path,
                 std::initializer_list<std::string_view> allowed) {
  if (!object.is_object()) return Invalid(path, "must be a JSON object");
  for (const auto& [key, value] : object.items()) {
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known) return Invalid(path, "unknown key '" + key.substr(0, 64) + "'");
  }
  for (auto a : allowed) {
    if (!object.contains(std::string(a)))
      return Invalid(path + "." + std::string(a), "missing required field");
  }
  return Ok();
}

Result<std::vector<float>> ReadFloats(const json& array, const std::string& path,
                                      const TensorInfo& tensor, std::string_view kind) {
  if (!array.is_array()) return Invalid(path, "must be an array of numbers");
  if (static_cast<int64_t>(array.size()) != tensor.elements) {
    return Invalid(path, std::to_string(array.size()) + " values, the model's " +
                             std::string(kind) + " '" + tensor.name + "' has " +
                             std::to_string(tensor.elements));
  }
  std::vector<float> values;
  values.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const json& v = array[i];
    if (!v.is_number()) return Invalid(path + "[" + std::to_string(i) + "]", "must be a number");
    const double d = v.get<double>();
    if (!std::isfinite(d) || std::fabs(d) > double(std::numeric_limits<float>::max())) {
      return Invalid(path + "[" + std::to_string(i) + "]", "not a finite float32");
    }
    values.push_back(static_cast<float>(d));
  }
  return values;
}

// Reads {"<name>": [...], ...}: every tensor of `tensors` exactly once, no other name.
Result<std::vector<std::vector<float>>> ReadTensors(const json& object, const std::string& path,
                                                    const std::vector<TensorInfo>& tensors,
                                                    std::string_view kind) {
  if (!object.is_object())
    return Invalid(path, "must be a JSON object of " + std::string(kind) + " names");
  for (const auto& [name, value] : object.items()) {
    bool known = false;
    for (const auto& t : tensors) known = known || t.name == name;
    if (!known) {
      return Invalid(path, "unknown " + std::string(kind) + " '" + name.substr(0, 64) +
                               "' (the model's " + std::string(kind) + "s: " + NameList(tensors) +
                               ")");
    }
  }
  std::vector<std::vector<float>> out;
  for (const auto& t : tensors) {
    auto it = object.find(t.name);
    if (it == object.end())
      return Invalid(path, "missing " + std::string(kind) + " '" + t.name + "'");
    EDGE_ASSIGN_OR_RETURN(auto values, ReadFloats(*it, path + "." + t.name, t, kind));
    out.push_back(std::move(values));
  }
  return out;
}

void AppendTensors(std::string& out, const std::vector<std::vector<float>>& values,
                   const std::vector<TensorInfo>& tensors) {
  out += '{';
  for (size_t t = 0; t < tensors.size(); ++t) {
    if (t) out += ',';
    out += json(tensors[t].name).dump();
    out += ":[";
    char buf[32];
    for (size_t i = 0; i < values[t].size(); ++i) {
      if (i) out += ',';
      // Shortest text that reads back as the same float32 (std::to_chars round-trip guarantee).
      auto r = std::to_chars(buf, buf + sizeof buf, values[t][i]);
      out.append(buf, r.ptr);
    }
    out += ']';
  }
  out += '}';
}

Status CheckCase(const std::vector<std::vector<float>>& values,
                 const std::vector<TensorInfo>& tensors, const std::string& path,
                 std::string_view kind) {
  if (values.size() != tensors.size()) {
    return Invalid(path, std::to_string(values.size()) + " " + std::string(kind) +
                             "s, the model has " + std::to_string(tensors.size()));
  }
  for (size_t t = 0; t < tensors.size(); ++t) {
    const std::string field = path + "." + tensors[t].name;
    if (static_cast<int64_t>(values[t].size()) != tensors[t].elements) {
      return Invalid(field, std::to_string(values[t].size()) + " values, the model has " +
                                std::to_string(tensors[t].elements));
    }
    for (size_t i = 0; i < values[t].size(); ++i) {
      if (!std::isfinite(values[t][i])) {
        return Invalid(field + "[" + std::to_string(i) + "]", "not a finite float32");
      }
    }
  }
  return Ok();
}

}  // namespace

Result<SelfTest> ParseSelfTest(std::string_view text, const engine::Model& model) {
  EDGE_ASSIGN_OR_RETURN(json doc, bundle::ParseJsonLimited(text, "selftest", kMaxSelfTestBytes));
  EDGE_TRY(CheckKeys(doc, "selftest", {"schema", "cases"}));
  const json& schema = doc["schema"];
  if (!schema.is_number_integer() || schema.get<int64_t>() != kSelfTestSchema) {
    return Invalid("selftest.schema", "unsupported schema " + schema.dump().substr(0, 32) +
                                          " (this agent reads " + std::to_string(kSelfTestSchema) +
                                          ")");
  }
  const json& cases = doc["cases"];
  if (!cases.is_array() || cases.empty())
    return Invalid("selftest.cases", "must be a non-empty array");
  if (cases.size() > kMaxSelfTestCases) {
    return Invalid("selftest.cases", std::to_string(cases.size()) + " cases exceeds the limit of " +
                                         std::to_string(kMaxSelfTestCases));
  }
  SelfTest selftest;
  for (size_t c = 0; c < cases.size(); ++c) {
    const std::string path = "selftest.cases[" + std::to_string(c) + "]";
    EDGE_TRY(CheckKeys(cases[c], path, {"inputs", "outputs"}));
    SelfTestCase tc;
    EDGE_ASSIGN_OR_RETURN(
        tc.inputs, ReadTensors(cases[c]["inputs"], path + ".inputs", model.inputs(), "input"));
    EDGE_ASSIGN_OR_RETURN(
        tc.outputs, ReadTensors(cases[c]["outputs"], path + ".outputs", model.outputs(), "output"));
    selftest.cases.push_back(std::move(tc));
  }
  return selftest;
}

Result<SelfTest> ReadSelfTestFile(const std::filesystem::path& path, const engine::Model& model) {
  auto text = fs::ReadFile(path, kMaxSelfTestBytes);
  if (!text) return Fail(text.error().Wrap("reading self-test " + path.string()));
  auto selftest = ParseSelfTest(*text, model);
  if (!selftest) return Fail(selftest.error().Wrap(path.string()));
  return selftest;
}

Result<std::string> SerializeSelfTest(const SelfTest& selftest, const engine::Model& model) {
  if (selftest.cases.empty() || selftest.cases.size() > kMaxSelfTestCases) {
    return Invalid("selftest.cases", "needs 1 to " + std::to_string(kMaxSelfTestCases) +
                                         " cases, got " + std::to_string(selftest.cases.size()));
  }
  std::string out = "{\"schema\":" + std::to_string(kSelfTestSchema) + ",\"cases\":[";
  for (size_t c = 0; c < selftest.cases.size(); ++c) {
    const std::string path = "selftest.cases[" + std::to_string(c) + "]";
    const SelfTestCase& tc = selftest.cases[c];
    EDGE_TRY(CheckCase(tc.inputs, model.inputs(), path + ".inputs", "input"));
    EDGE_TRY(CheckCase(tc.outputs, model.outputs(), path + ".outputs", "output"));
    out += c ? ",\n" : "\n";
    out += "{\"inputs\":";
    AppendTensors(out, tc.inputs, model.inputs());
    out += ",\"outputs\":";
    AppendTensors(out, tc.outputs, model.outputs());
    out += '}';
  }
  out += "\n]}\n";
  if (out.size() > kMaxSelfTestBytes) {
    return Fail(ErrorCode::kResourceExhausted,
                "selftest: " + std::to_string(out.size()) + " bytes exceeds the limit of " +
                    std::to_string(kMaxSelfTestBytes) + " that agents read; use fewer cases");
  }
  return out;
}

Result<SelfTest> GenerateSelfTest(const std::shared_ptr<const engine::Model>& model,
                                  const std::vector<engine::NpyArray>& inputs,
                                  engine::KernelTier tier) {
  const auto& in_info = model->inputs();
  const auto& out_info = model->outputs();
  if (inputs.size() != in_info.size()) {
    return Fail(ErrorCode::kInvalidArgument, "the model has " + std::to_string(in_info.size()) +
                                                 " inputs (" + NameList(in_info) + "), " +
                                                 std::to_string(inputs.size()) +
                                                 " input arrays given");
  }
  int64_t samples = -1;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const int64_t per = in_info[i].elements;
    const auto n = static_cast<int64_t>(inputs[i].data.size());
    if (per <= 0 || n == 0 || n % per != 0 || (samples >= 0 && n / per != samples)) {
      return Fail(
          ErrorCode::kInvalidArgument,
          "input " + std::to_string(i) + " holds " + std::to_string(n) +
              " floats; the model's input '" + in_info[i].name + "' needs a multiple of " +
              std::to_string(per) +
              (samples >= 0 ? ", with " + std::to_string(samples) + " samples like the first input"
                            : ""));
    }
    samples = n / per;
  }
  if (samples > static_cast<int64_t>(kMaxSelfTestCases)) {
    return Fail(ErrorCode::kInvalidArgument,
                std::to_string(samples) + " samples exceeds the limit of " +
                    std::to_string(kMaxSelfTestCases) + " self-test cases");
  }
  engine::ExecutionContext ctx(model, tier);
  SelfTest selftest;
  for (int64_t s = 0; s < samples; ++s) {
    SelfTestCase tc;
    std::vector<const float*> in_ptrs;
    for (size_t i = 0; i < inputs.size(); ++i) {
      const float* begin = inputs[i].data.data() + s * in_info[i].elements;
      tc.inputs.emplace_back(begin, begin + in_info[i].elements);
      in_ptrs.push_back(tc.inputs.back().data());
    }
    std::vector<float*> out_ptrs;
    for (const auto& o : out_info) tc.outputs.emplace_back(static_cast<size_t>(o.elements));
    for (auto& o : tc.outputs) out_ptrs.push_back(o.data());
    auto st = ctx.Run(in_ptrs, out_ptrs);
    if (!st) return Fail(st.error().Wrap("running sample " + std::to_string(s)));
    selftest.cases.push_back(std::move(tc));
  }
  return selftest;
}

}  // namespace edge::runtime
