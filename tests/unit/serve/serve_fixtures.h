// Shared by the serve tests: zoo models, direct engine runs to compare against, and a running
// InferenceServer on a unix socket in a temp dir with a wire-level client attached.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "agent/engine/engine.h"
#include "agent/serve/registry.h"
#include "agent/serve/server.h"
#include "tests/unit/core/temp_dir.h"
#include "tests/unit/serve/oip_wire.h"

namespace edge::serve::testing {

// The MLP of the zoo: one input "input" [1,64], one output "logits" [1,4].
inline constexpr const char* kMlpQuantized = "mlp_anomaly.qdq.onnx";
inline constexpr const char* kMlpFloat = "mlp_anomaly.onnx";

std::string ZooPath(const std::string& file);
std::shared_ptr<const engine::Model> LoadZoo(const std::string& file);
// Row `row` of mlp_anomaly.input.npy: 64 floats.
std::vector<float> MlpSample(int row);
// The model's first output for `input` (its single input), run directly on the engine.
std::vector<float> RunDirect(const std::shared_ptr<const engine::Model>& model, const std::vector<float>& input);

class ServingFixture {
 public:
  // Serves LoadZoo(file) as model `name`, version `version`, on <tempdir>/infer.sock.
  ServingFixture(const std::string& name, const std::string& version, const std::string& file,
                 int64_t max_request_bytes = 64 * 1024);

  edge::testing::TempDir temp;
  Registry registry;
  std::shared_ptr<const engine::Model> model;
  std::string socket_path;
  std::unique_ptr<InferenceServer> server;
  wire::Client client;
};

// ModelInfer over the fixture's client.
inline wire::Reply Infer(ServingFixture& f, const wire::InferRequest& r) {
  return f.client.Call("ModelInfer", wire::Encode(r));
}

}  // namespace edge::serve::testing
