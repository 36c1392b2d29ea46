// The agent's state database (<state_dir>/state.db).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/update_machine.h"
#include "common/core/result.h"
#include "common/sqlite/db.h"

namespace edge::agent {

struct ModelRecord {
  std::string model;
  std::string active_version;
  std::string active_digest;
  uint64_t active_security_version = 0;
  uint64_t floor = 0;
  UpdateState state = UpdateState::kIdle;
  std::string target_version;
  std::string target_digest;
  std::string target_envelope;
  std::string detail;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  int64_t updated_at = 0;
};

class StateStore {
 public:
  static Result<StateStore> Open(const std::string& path);

  Result<std::vector<ModelRecord>> LoadModels();
  Result<std::optional<ModelRecord>> LoadModel(const std::string& model);
  // Durable (synchronous=FULL) before it returns.
  Status SaveModel(const ModelRecord& record);

  Result<std::optional<std::string>> GetMeta(const std::string& key);
  Status SetMeta(const std::string& key, const std::string& value);

 private:
  explicit StateStore(sqlite::Db db) : db_(std::move(db)) {}
  sqlite::Db db_;
};

}  // namespace edge::agent
