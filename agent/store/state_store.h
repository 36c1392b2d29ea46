// The agent's state database (<state_dir>/state.db).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/update_machine.h"
#include "common/bundle/bundle.h"
#include "common/crypto/ed25519.h"
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
  int64_t probation_started_at = 0;
  int probation_restarts = 0;
  bool target_local = false;        // from `edge-agent install FILE`
  uint64_t pinned_generation = 0;   // controller desired states up to this one are ignored
};

// The final outcome of one update, kept until the controller acknowledges it.
struct OutcomeEvent {
  uint64_t seq = 0;  // assigned by the store, increasing
  std::string model;
  std::string version;
  std::string outcome;  // StateName of an outcome state: committed, rolled_back, failed
  std::string reason;
  int64_t unix_time = 0;
  bool local = false;
};

class StateStore {
 public:
  static Result<StateStore> Open(const std::string& path);

  Result<std::vector<ModelRecord>> LoadModels();
  Result<std::optional<ModelRecord>> LoadModel(const std::string& model);
  // Durable (synchronous=FULL) before it returns. With `outcome`, the event is appended in the
  // same transaction, so a state that ends an update and its report cannot be separated by a crash.
  Status SaveModel(const ModelRecord& record, const OutcomeEvent* outcome = nullptr);

  // Unacknowledged outcomes, oldest first.
  Result<std::vector<OutcomeEvent>> PendingOutcomes(size_t limit);
  // Drops outcomes with seq <= up_to_seq (the controller has stored them).
  Status AckOutcomes(uint64_t up_to_seq);

  // The signed envelope of the trust policy this device adopted, as stored; nullopt before
  // enrollment stored one. Not verified here: the caller classifies it against the pinned root
  // (ClassifyStoredPolicy), because what an expired policy still allows is the daemon's call.
  Result<std::optional<std::string>> LoadTrustPolicyEnvelope();
  Status SaveTrustPolicy(const std::string& envelope_bytes);

  Result<std::optional<std::string>> GetMeta(const std::string& key);
  Status SetMeta(const std::string& key, const std::string& value);

 private:
  explicit StateStore(sqlite::Db db) : db_(std::move(db)) {}
  sqlite::Db db_;
};

}  // namespace edge::agent
