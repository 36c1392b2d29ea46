// Builders shared by the operator tests that run one op on each element type: a graph input
// made float, int8 (between QuantizeLinear and DequantizeLinear) or int32 (by Cast), the op,
// and each output made float again; whole-number data exact in all three.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "tests/unit/engine/onnx_builder.h"

namespace edge::engine::testing {

// Whole numbers in [-125, 125]: exact as floats, as int8 codes at scale 1, and as int32.
inline std::vector<float> WholeRamp(int64_t n) {
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) x[static_cast<size_t>(i)] = static_cast<float>((i * 37) % 251 - 125);
  return x;
}

// The step summary line of the first step of ONNX op `op`, or "" when there is none.
inline std::string StepOf(const Model& m, const std::string& op) {
  for (const auto& s : m.StepSummary()) {
    if (s.rfind(op + " ", 0) == 0) return s;
  }
  return "";
}

// How the tensor the op reads is typed: float, int8 between Q and DQ at scale 1, or int32 by Cast.
enum class Form { kFloat, kInt8, kInt32 };

// x -> [Q -> DQ | Cast(int32)] -> `op`(extra inputs) -> [Q -> DQ | Cast(float)] per output.
inline Builder Around(Form form, const std::string& op, const std::vector<int64_t>& shape,
                      const std::vector<std::string>& extra, int outputs, int64_t opset = 13) {
  Builder b(opset);
  b.Input("x", shape).Init("s", {}, {1.0f}).InitI8("zp", {}, {0});
  std::string in = "x";
  if (form == Form::kInt8) {
    b.Node("QuantizeLinear", {"x", "s", "zp"}, {"xq"});
    b.Node("DequantizeLinear", {"xq", "s", "zp"}, {"xd"});
    in = "xd";
  } else if (form == Form::kInt32) {
    IntAttr(b.Node("Cast", {"x"}, {"xi"}), "to", onnx::TensorProto::INT32);
    in = "xi";
  }
  std::vector<std::string> ins = {in}, outs;
  ins.insert(ins.end(), extra.begin(), extra.end());
  for (int k = 0; k < outputs; ++k) outs.push_back("o" + std::to_string(k));
  b.Node(op, ins, outs);
  for (int k = 0; k < outputs; ++k) {
    const std::string o = outs[static_cast<size_t>(k)], y = "y" + std::to_string(k);
    if (form == Form::kInt8) {
      b.Node("QuantizeLinear", {o, "s", "zp"}, {o + "q"});
      b.Node("DequantizeLinear", {o + "q", "s", "zp"}, {y});
    } else if (form == Form::kInt32) {
      IntAttr(b.Node("Cast", {o}, {y}), "to", onnx::TensorProto::FLOAT);
    } else {
      b.Node("Identity", {o}, {y});
    }
    b.Output(y);
  }
  return b;
}

inline const char* FormName(Form f) { return f == Form::kFloat ? "float" : f == Form::kInt8 ? "int8" : "int32"; }

}  // namespace edge::engine::testing
