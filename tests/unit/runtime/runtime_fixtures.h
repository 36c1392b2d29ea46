// Shared by the runtime tests and the edgectl bundle tests: zoo models, self-tests made from
// their sample inputs, hand-made ONNX files, and an installed version directory
// (models/<name>/<version>/ with a file per blob role).
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "agent/engine/engine.h"
#include "agent/runtime/selftest_file.h"
#include "common/bundle/bundle.h"
#include "tests/unit/core/temp_dir.h"

namespace edge::runtime::testing {

std::string ZooPath(const std::string& file);
std::shared_ptr<const engine::Model> LoadZooModel(const std::string& name);  // <name>.qdq.onnx
// One case per sample of <name>.input.npy, expected outputs computed by the engine (scalar tier).
SelfTest ZooSelfTest(const std::shared_ptr<const engine::Model>& model, const std::string& name);
std::string SerializeOrDie(const SelfTest& selftest, const engine::Model& model);
// The self-test file text of <name>.qdq.onnx for its sample inputs, as `bundle selftest` writes it.
std::string ZooSelfTestText(const std::string& name);
// A valid ONNX file whose only node is `op_type`: input x [1, 4] -> op -> output y, opset 13.
std::string OnnxWithOp(const std::string& op_type);
// Writes `bytes` to `path` (binary, truncating).
void WriteBytes(const std::filesystem::path& path, const std::string& bytes);

// A manifest with a model blob, plus a selftest blob when `with_selftest`.
bundle::Manifest MakeManifest(bool with_selftest, double tolerance, uint64_t latency_budget_us);

// A version directory in a temp dir: the zoo model copied to <dir>/model.
class VersionDir {
 public:
  explicit VersionDir(const std::string& zoo_name);
  const std::filesystem::path& path() const { return path_; }
  void WriteSelfTest(const std::string& text) const;
  void WriteModelBytes(const std::string& bytes) const;

 private:
  edge::testing::TempDir temp_;
  std::filesystem::path path_;
};

}  // namespace edge::runtime::testing
