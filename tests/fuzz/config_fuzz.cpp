// The JSON config loaders, which only take a path: each input is written to a memfd and all
// three read it through /proc/self/fd/N (no disk I/O). LoadObject's object then goes through
// every typed getter for each of its keys, so every type/range branch is reachable from any
// config-shaped input.
#include <cstdint>
#include <string>
#include <vector>

#include "agent/daemon/config.h"
#include "common/core/config.h"
#include "controller/daemon/config.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edge;

namespace {

void ExpectBadConfig(const Error& e, std::string_view who) {
  if (e.code != ErrorCode::kBadConfig) fuzz::Die(who, "an error that is not kBadConfig: " + e.message);
  if (e.message.empty()) fuzz::Die(who, "an error with no message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file;
  file.Set(data, size);

  if (auto obj = config::LoadObject(file.path())) {
    if (!obj->is_object()) fuzz::Die("LoadObject returned something other than an object");
    std::vector<std::string> keys;
    for (const auto& [key, value] : obj->items()) {
      if (keys.size() == 16) break;
      keys.push_back(key);
    }
    for (const auto& key : keys) {
      (void)config::GetString(*obj, key);
      (void)config::GetString(*obj, key, "fallback");
      (void)config::GetInt(*obj, key);
      (void)config::GetInt(*obj, key, 0, -1000, 1000);
      (void)config::GetDouble(*obj, key, std::nullopt, 0.0, 1.0);
      (void)config::GetBool(*obj, key);
    }
    (void)config::RejectUnknownKeys(*obj, {"fleet", "device_name"}, "fuzz config");
  } else {
    ExpectBadConfig(obj.error(), "LoadObject");
  }

  if (auto agent = agent::LoadAgentConfig(file.path())) {
    if ((agent->inference_socket_mode & 0007) != 0) fuzz::Die("agent config accepted a world-accessible socket");
    if (agent->backoff_initial_ms > agent->backoff_max_ms) fuzz::Die("agent config accepted backoff initial > max");
  } else {
    ExpectBadConfig(agent.error(), "LoadAgentConfig");
  }
  if (auto controller = controller::LoadControllerConfig(file.path()); !controller)
    ExpectBadConfig(controller.error(), "LoadControllerConfig");
  return 0;
}
