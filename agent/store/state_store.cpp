#include "agent/store/state_store.h"

namespace edge::agent {
std::span<const sqlite::Migration> Migrations();

namespace {

constexpr const char* kColumns =
    "model, active_version, active_digest, active_security_version, floor, state, target_version, target_digest, "
    "target_envelope, detail, bytes_done, bytes_total, updated_at, probation_started_at, probation_restarts, "
    "target_local, pinned_generation";

// A row this build cannot read is a load error naming the row, never a silent default.
Result<ModelRecord> Read(const sqlite::Statement& st) {
  ModelRecord r;
  r.model = st.Text(0);
  r.active_version = st.Text(1);
  r.active_digest = st.Text(2);
  r.active_security_version = static_cast<uint64_t>(st.Int(3));
  r.floor = static_cast<uint64_t>(st.Int(4));
  auto state = ParseState(st.Text(5));
  if (!state)
    return Fail(ErrorCode::kDataLoss, "state.db: model '" + r.model + "' has unknown update state '" + st.Text(5) +
                                          "' (written by a newer edge-agent, or corrupt): run the edge-agent that wrote it, or move "
                                          "state.db aside to start over (its anti-rollback floors are lost)");
  r.state = *state;
  r.target_version = st.Text(6);
  r.target_digest = st.Text(7);
  r.target_envelope = st.Blob(8);
  r.detail = st.Text(9);
  r.bytes_done = static_cast<uint64_t>(st.Int(10));
  r.bytes_total = static_cast<uint64_t>(st.Int(11));
  r.updated_at = st.Int(12);
  r.probation_started_at = st.Int(13);
  r.probation_restarts = static_cast<int>(st.Int(14));
  r.target_local = st.Int(15) != 0;
  r.pinned_generation = static_cast<uint64_t>(st.Int(16));
  if (r.model.empty()) return Fail(ErrorCode::kDataLoss, "state.db: a model row has an empty name");
  if (IsBusy(r.state) && r.target_envelope.empty())
    return Fail(ErrorCode::kDataLoss, "state.db: model '" + r.model + "' is " + std::string(StateName(r.state)) +
                                          " but has no target envelope (corrupt)");
  return r;
}

}  // namespace

Result<StateStore> StateStore::Open(const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(path));
  if (auto s = db.Migrate(Migrations()); !s) return Fail(s.error().Wrap("migrating agent state " + path));
  return StateStore(std::move(db));
}

Result<std::vector<ModelRecord>> StateStore::LoadModels() {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare(std::string("SELECT ") + kColumns + " FROM models ORDER BY model"));
  std::vector<ModelRecord> out;
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    EDGE_ASSIGN_OR_RETURN(auto r, Read(st));
    out.push_back(std::move(r));
  }
  return out;
}

Result<std::optional<ModelRecord>> StateStore::LoadModel(const std::string& model) {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare(std::string("SELECT ") + kColumns + " FROM models WHERE model = ?"));
  st.Bind(1, model);
  EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<ModelRecord>();
  EDGE_ASSIGN_OR_RETURN(auto r, Read(st));
  return std::optional<ModelRecord>(std::move(r));
}

Status StateStore::SaveModel(const ModelRecord& r, const std::vector<OutcomeEvent>& outcomes) {
  EDGE_ASSIGN_OR_RETURN(auto tx, sqlite::Transaction::Begin(db_));
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare(std::string("INSERT OR REPLACE INTO models(") + kColumns +
                                             ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  st.Bind(1, r.model).Bind(2, r.active_version).Bind(3, r.active_digest)
      .Bind(4, static_cast<int64_t>(r.active_security_version)).Bind(5, static_cast<int64_t>(r.floor))
      .Bind(6, std::string(StateName(r.state))).Bind(7, r.target_version).Bind(8, r.target_digest)
      .BindBlob(9, r.target_envelope).Bind(10, r.detail).Bind(11, static_cast<int64_t>(r.bytes_done))
      .Bind(12, static_cast<int64_t>(r.bytes_total)).Bind(13, r.updated_at).Bind(14, r.probation_started_at)
      .Bind(15, static_cast<int64_t>(r.probation_restarts)).Bind(16, static_cast<int64_t>(r.target_local ? 1 : 0))
      .Bind(17, static_cast<int64_t>(r.pinned_generation));
  EDGE_TRY(st.Run());
  for (const auto& outcome : outcomes) {
    EDGE_ASSIGN_OR_RETURN(auto ev, db_.Prepare("INSERT INTO outcomes(model, version, outcome, reason, unix_time, local) "
                                               "VALUES (?,?,?,?,?,?)"));
    ev.Bind(1, outcome.model).Bind(2, outcome.version).Bind(3, outcome.outcome).Bind(4, outcome.reason)
        .Bind(5, outcome.unix_time).Bind(6, static_cast<int64_t>(outcome.local ? 1 : 0));
    EDGE_TRY(ev.Run());
  }
  return tx.Commit();
}

Result<std::vector<OutcomeEvent>> StateStore::PendingOutcomes(size_t limit) {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT seq, model, version, outcome, reason, unix_time, local "
                                             "FROM outcomes ORDER BY seq LIMIT ?"));
  st.Bind(1, static_cast<int64_t>(limit));
  std::vector<OutcomeEvent> out;
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({static_cast<uint64_t>(st.Int(0)), st.Text(1), st.Text(2), st.Text(3), st.Text(4), st.Int(5),
                   st.Int(6) != 0});
  }
  return out;
}

Status StateStore::AckOutcomes(uint64_t up_to_seq) {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare("DELETE FROM outcomes WHERE seq <= ?"));
  st.Bind(1, static_cast<int64_t>(up_to_seq));
  return st.Run();
}

namespace {
constexpr const char* kTrustPolicyKey = "trust_policy";
}  // namespace

Result<std::optional<std::string>> StateStore::LoadTrustPolicyEnvelope() { return GetMeta(kTrustPolicyKey); }

Status StateStore::SaveTrustPolicy(const std::string& envelope_bytes) { return SetMeta(kTrustPolicyKey, envelope_bytes); }

Result<std::optional<std::string>> StateStore::GetMeta(const std::string& key) {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare("SELECT value FROM meta WHERE key = ?"));
  st.Bind(1, key);
  EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<std::string>();
  return std::optional<std::string>(st.Blob(0));
}

Status StateStore::SetMeta(const std::string& key, const std::string& value) {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)"));
  st.Bind(1, key).BindBlob(2, value);
  return st.Run();
}

}  // namespace edge::agent
