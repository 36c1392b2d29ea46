#include "agent/store/state_store.h"

namespace edge::agent {
std::span<const sqlite::Migration> Migrations();

namespace {

constexpr const char* kColumns =
    "model, active_version, active_digest, active_security_version, floor, state, target_version, target_digest, "
    "target_envelope, detail, bytes_done, bytes_total, updated_at";

ModelRecord Read(const sqlite::Statement& st) {
  ModelRecord r;
  r.model = st.Text(0);
  r.active_version = st.Text(1);
  r.active_digest = st.Text(2);
  r.active_security_version = static_cast<uint64_t>(st.Int(3));
  r.floor = static_cast<uint64_t>(st.Int(4));
  r.state = ParseState(st.Text(5)).value_or(UpdateState::kIdle);
  r.target_version = st.Text(6);
  r.target_digest = st.Text(7);
  r.target_envelope = st.Blob(8);
  r.detail = st.Text(9);
  r.bytes_done = static_cast<uint64_t>(st.Int(10));
  r.bytes_total = static_cast<uint64_t>(st.Int(11));
  r.updated_at = st.Int(12);
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
    out.push_back(Read(st));
  }
  return out;
}

Result<std::optional<ModelRecord>> StateStore::LoadModel(const std::string& model) {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare(std::string("SELECT ") + kColumns + " FROM models WHERE model = ?"));
  st.Bind(1, model);
  EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<ModelRecord>();
  return std::optional<ModelRecord>(Read(st));
}

Status StateStore::SaveModel(const ModelRecord& r) {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare(std::string("INSERT OR REPLACE INTO models(") + kColumns +
                                             ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)"));
  st.Bind(1, r.model).Bind(2, r.active_version).Bind(3, r.active_digest)
      .Bind(4, static_cast<int64_t>(r.active_security_version)).Bind(5, static_cast<int64_t>(r.floor))
      .Bind(6, std::string(StateName(r.state))).Bind(7, r.target_version).Bind(8, r.target_digest)
      .BindBlob(9, r.target_envelope).Bind(10, r.detail).Bind(11, static_cast<int64_t>(r.bytes_done))
      .Bind(12, static_cast<int64_t>(r.bytes_total)).Bind(13, r.updated_at);
  return st.Run();
}

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
