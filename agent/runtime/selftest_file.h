// The self-test blob of a bundle (DESIGN §5): input vectors and the outputs the model must
// produce for them. JSON, versioned and strict (docs/health-gate.md):
//   {"schema":1,"cases":[{"inputs":{"<input>":[floats]},"outputs":{"<output>":[floats]}}]}
//
// A self-test only means something against one model, so parsing validates it against that
// model's io metadata: every input and output named exactly once, each with exactly the
// model's element count, every value a finite float32.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/engine/npy_io.h"
#include "common/core/result.h"

namespace edge::runtime {

inline constexpr int kSelfTestSchema = 1;
inline constexpr size_t kMaxSelfTestBytes = size_t{16} << 20;  // 16 MiB
inline constexpr size_t kMaxSelfTestCases = 1024;

struct SelfTestCase {
  std::vector<std::vector<float>> inputs;   // in the model's input order
  std::vector<std::vector<float>> outputs;  // in the model's output order
};

struct SelfTest {
  std::vector<SelfTestCase> cases;
};

// Parses `json` and checks it against `model`. Errors name the field, e.g.
// "selftest.cases[1].inputs.x: 63 values, the model's input 'x' has 64".
Result<SelfTest> ParseSelfTest(std::string_view json, const engine::Model& model);
// Reads at most kMaxSelfTestBytes from `path`, then ParseSelfTest; errors name the file.
Result<SelfTest> ReadSelfTestFile(const std::filesystem::path& path, const engine::Model& model);

// The JSON text of `selftest`, with each float written in its shortest form that reads back
// bit-exactly (so a tolerance of 0 means exact). Fails on a non-finite value or on a case whose
// tensors do not match `model`.
Result<std::string> SerializeSelfTest(const SelfTest& selftest, const engine::Model& model);

// Runs `model` at `tier` on `inputs` (one array per model input, in order; a leading axis of
// samples gives one case per sample) and records what it computes as the expected outputs.
Result<SelfTest> GenerateSelfTest(const std::shared_ptr<const engine::Model>& model,
                                  const std::vector<engine::NpyArray>& inputs,
                                  engine::KernelTier tier);

}  // namespace edge::runtime
