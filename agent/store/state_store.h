// The agent's state database (<state_dir>/state.db).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/model_record.h"
#include "common/bundle/bundle.h"
#include "common/crypto/ed25519.h"
#include "common/core/result.h"
#include "common/sqlite/db.h"

namespace edge::agent {

class StateStore {
 public:
  static Result<StateStore> Open(const std::string& path);

  Result<std::vector<ModelRecord>> LoadModels();
  Result<std::optional<ModelRecord>> LoadModel(const std::string& model);
  // Durable (synchronous=FULL) before it returns. The outcomes are appended in the same
  // transaction, so a state that ends an update and its report cannot be separated by a crash.
  Status SaveModel(const ModelRecord& record, const std::vector<OutcomeEvent>& outcomes = {});

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
