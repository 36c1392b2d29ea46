// The controller store's logic, written once on the SQL layer (common/sql/connection.h) for
// SQLite and PostgreSQL alike: each write is one Connection::Write transaction (SQLite BEGIN
// IMMEDIATE; PostgreSQL SERIALIZABLE, run again when another controller's write conflicts), and
// reads whose statements must agree (a rollout with its device rows, the fleet a plan is made
// from: sql_rollouts.cpp) one Connection::Read. A device and its labels are read without one: a
// label a moment newer than the row misleads nobody, and the device check on every agent call
// stays two round trips on PostgreSQL instead of four. Agent reports are written by
// sql_reports.cpp, a batch's in one statement per table. Every statement with input is prepared
// and bound; the statements are SQL both databases run as they are.
#include <algorithm>
#include <map>

#include "common/sql/postgres_connection.h"
#include "common/sql/sqlite_connection.h"
#include "controller/store/health_json.h"
#include "controller/store/migrations.h"
#include "controller/store/sql_cluster.h"
#include "controller/store/sql_reports.h"
#include "controller/store/sql_rollouts.h"
#include "controller/store/store.h"

namespace edge::controller {
namespace {

using sql::Statement;

// Inserts the row and prunes the oldest beyond `keep` (ids only grow, so that is a range
// delete on the primary key).
Status InsertAudit(sql::Connection& db, uint32_t keep, const AuditRecord& a) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
      "INSERT INTO audit(at, actor, action, target, detail, result) VALUES (?, ?, ?, ?, ?, ?) RETURNING id"));
  st.Bind(1, a.at).Bind(2, a.actor).Bind(3, a.action).Bind(4, a.target).Bind(5, a.detail).Bind(6, a.result);
  EDGE_ASSIGN_OR_RETURN(int64_t id, st.RunReturningId());
  EDGE_ASSIGN_OR_RETURN(auto prune, db.Prepare("DELETE FROM audit WHERE id <= ?"));
  prune.Bind(1, id - static_cast<int64_t>(std::max<uint32_t>(keep, 1)));
  return prune.Run();
}

Status DenySerial(sql::Connection& db, const DeniedSerialRecord& d) {
  if (d.serial.empty()) return Ok();
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
      "INSERT INTO denied_serials(serial, identity, reason, denied_at, denied_by) VALUES (?, ?, ?, ?, ?) "
      "ON CONFLICT(serial) DO NOTHING"));
  st.Bind(1, d.serial).Bind(2, d.identity).Bind(3, d.reason).Bind(4, d.denied_at).Bind(5, d.denied_by);
  return st.Run();
}

OperatorRecord ReadOperator(const Statement& st) {
  return {st.Text(0), st.Text(1), st.Int(2) != 0, st.Text(3), st.Int(4), st.Int(5), st.Text(6)};
}
constexpr const char* kOperatorColumns = "name, role, revoked, created_by, created_at, last_seen, last_serial";

bool IsRole(const std::string& role) { return role == "viewer" || role == "deployer" || role == "admin"; }

// The token states, in the order a token can reach them.
constexpr const char* kTokenState =
    "CASE WHEN revoked_at IS NOT NULL THEN 'revoked' WHEN used_at IS NOT NULL THEN 'used' "
    "WHEN expires_at <= ?1 THEN 'expired' ELSE 'unused' END";

DeviceRecord ReadDevice(const Statement& st) {
  DeviceRecord d;
  d.id = st.Text(0);
  d.site = st.Text(1);
  d.cert_serial = st.Text(2);
  d.cert_not_after = st.Int(3);
  d.enrolled_at = st.Int(4);
  d.last_seen = st.Int(5);
  d.agent_version = st.Text(6);
  d.facts_json = st.Text(7);
  d.desired_generation = static_cast<uint64_t>(st.Int(8));
  d.revoked = st.Int(9) != 0;
  return d;
}
constexpr const char* kDeviceColumns =
    "id, site, cert_serial, cert_not_after, enrolled_at, last_seen, agent_version, facts_json, "
    "desired_generation, revoked";

VersionRecord ReadVersion(const Statement& st) {
  VersionRecord v;
  v.model = st.Text(0);
  v.version = st.Text(1);
  v.security_version = static_cast<uint64_t>(st.Int(2));
  v.manifest_digest = st.Text(3);
  v.envelope = st.Blob(4);
  v.total_bytes = static_cast<uint64_t>(st.Int(5));
  v.signed_by = st.Text(6);
  v.pushed_by = st.Text(7);
  v.pushed_at = st.Int(8);
  return v;
}
constexpr const char* kVersionColumns =
    "model, version, security_version, manifest_digest, envelope, total_bytes, signed_by, "
    "pushed_by, pushed_at";

UpdateEventRecord ReadEvent(const Statement& st) {
  return {static_cast<uint64_t>(st.Int(0)), st.Text(1), st.Text(2), st.Text(3), st.Text(4), st.Int(5),
          st.Int(6) != 0, st.Int(7)};
}
constexpr const char* kEventColumns = "seq, model, version, outcome, reason, unix_time, offline_install, received_at";

class SqlStore final : public Store {
 public:
  SqlStore(std::unique_ptr<sql::Connection> db, StoreOptions options) : db_(std::move(db)), options_(options) {}

  Result<SiteRecord> CreateSite(const std::string& name, const std::string& actor, int64_t now) override {
    return db_->Write([&]() -> Result<SiteRecord> {
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare("INSERT INTO sites(name, created_at) VALUES (?, ?)"));
      st.Bind(1, name).Bind(2, now);
      if (auto s = st.Run(); !s) {
        if (s.error().code == ErrorCode::kAlreadyExists)
          return Fail(ErrorCode::kAlreadyExists, "site '" + name + "' already exists");
        return Fail(s.error());
      }
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "site.create", "site/" + name, ""}));
      return SiteRecord{name, now, 0};
    });
  }

  Result<std::vector<SiteRecord>> ListSites() override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT s.name, s.created_at, (SELECT count(*) FROM devices d WHERE d.site = s.name AND d.revoked = 0) "
        "FROM sites s ORDER BY s.name"));
    std::vector<SiteRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Text(0), st.Int(1), static_cast<uint32_t>(st.Int(2))});
    }
    return out;
  }

  Result<bool> SiteExists(const std::string& name) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT 1 FROM sites WHERE name = ?"));
    st.Bind(1, name);
    return st.Step();
  }

  Result<DeletedSiteRecord> DeleteSite(const std::string& name, const std::string& actor, const std::string& reason,
                                       int64_t now) override {
    return db_->Write([&]() -> Result<DeletedSiteRecord> {
      DeletedSiteRecord out;
      EDGE_ASSIGN_OR_RETURN(auto sites, ListSites());
      auto site = std::find_if(sites.begin(), sites.end(), [&](const SiteRecord& s) { return s.name == name; });
      if (site == sites.end()) return Fail(ErrorCode::kNotFound, "site '" + name + "' does not exist");
      out.site = *site;
      auto refuse = [&](const std::string& why) -> Result<DeletedSiteRecord> {
        return Fail(ErrorCode::kFailedPrecondition, "site '" + name + "' is still in use: " + why);
      };
      EDGE_ASSIGN_OR_RETURN(auto devices, ListDevices(name));
      if (!devices.empty())
        return refuse(std::to_string(devices.size()) + " device(s), e.g. " + devices.front().id +
                      (devices.front().revoked ? " (revoked)" : "") + "; remove each with: edgectl delete device " +
                      devices.front().id + " (or -l SELECTOR --yes)");
      EDGE_ASSIGN_OR_RETURN(auto tokens, ListTokens(name, true, now));
      for (const auto& t : tokens)
        if (t.state == "unused")
          return refuse("enrollment token " + t.id + " is unused and not expired; revoke it with: edgectl delete token " + t.id);
      EDGE_ASSIGN_OR_RETURN(auto live, LiveRollouts());
      for (const auto& r : live)
        if (std::find(r.target.sites.begin(), r.target.sites.end(), name) != r.target.sites.end())
          return refuse("rollout " + std::to_string(r.id) + " (" + std::string(rollout::Name(r.state)) +
                        ") targets it and would take any device that joins it; stop it with: edgectl rollout abort " +
                        std::to_string(r.id));
      EDGE_ASSIGN_OR_RETURN(auto del_tokens, db_->Prepare("DELETE FROM enrollment_tokens WHERE site = ?"));
      del_tokens.Bind(1, name);
      EDGE_TRY(del_tokens.Run());
      for (const auto& t : tokens) out.removed_tokens.push_back(t.id);
      EDGE_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM sites WHERE name = ?"));
      del.Bind(1, name);
      EDGE_TRY(del.Run());
      std::string detail;
      if (!out.removed_tokens.empty()) {
        detail = "tokens_removed=";
        for (size_t i = 0; i < out.removed_tokens.size(); ++i) detail += (i ? "," : "") + out.removed_tokens[i];
      }
      if (!reason.empty()) detail += (detail.empty() ? "" : " ") + std::string("reason=") + reason;
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "site.delete", "site/" + name, detail}));
      return out;
    });
  }

  Status CreateToken(const TokenRecord& t, const std::string& actor) override {
    return db_->Write([&]() -> Status {
      EDGE_ASSIGN_OR_RETURN(bool exists, SiteExists(t.site));
      if (!exists) return Fail(ErrorCode::kNotFound, "site '" + t.site + "' does not exist (create it with: edgectl create site " + t.site + ")");
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
          "INSERT INTO enrollment_tokens(token_hash, site, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"));
      st.Bind(1, t.token_hash).Bind(2, t.site).Bind(3, t.created_by).Bind(4, t.created_at).Bind(5, t.expires_at);
      EDGE_TRY(st.Run());
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, t.created_at, actor, "token.create", "site/" + t.site,
                                 "expires_at=" + std::to_string(t.expires_at)}));
      return Ok();
    });
  }

  Status CheckEnrollment(const std::string& token_hash, const std::string& device_id, int64_t now) override {
    auto site = CheckToken(token_hash, device_id, now);
    if (!site) return Fail(site.error());
    return Ok();
  }

  Result<DeviceRecord> EnrollDevice(const std::string& token_hash, DeviceRecord device, int64_t now) override {
    return db_->Write([&]() -> Result<DeviceRecord> {
      EDGE_ASSIGN_OR_RETURN(device.site, CheckToken(token_hash, device.id, now));
      EDGE_ASSIGN_OR_RETURN(auto use, db_->Prepare(
          "UPDATE enrollment_tokens SET used_at = ?, used_by = ? WHERE token_hash = ?"));
      use.Bind(1, now).Bind(2, device.id).Bind(3, token_hash);
      EDGE_TRY(use.Run());
      EDGE_ASSIGN_OR_RETURN(auto ins, db_->Prepare(
          "INSERT INTO devices(id, site, cert_serial, cert_not_after, enrolled_at, facts_json) VALUES (?, ?, ?, ?, ?, ?)"));
      ins.Bind(1, device.id).Bind(2, device.site).Bind(3, device.cert_serial).Bind(4, device.cert_not_after)
          .Bind(5, now).Bind(6, device.facts_json);
      EDGE_TRY(ins.Run());
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, "device/" + device.id, "device.enroll", "device/" + device.id,
                                 "site=" + device.site}));
      device.enrolled_at = now;
      return device;
    });
  }

  Result<DeviceRecord> GetDevice(const std::string& id) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kDeviceColumns + " FROM devices WHERE id = ?"));
    st.Bind(1, id);
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Fail(ErrorCode::kNotFound, "no device named '" + id + "'");
    DeviceRecord d = ReadDevice(st);
    EDGE_ASSIGN_OR_RETURN(auto labels, db_->Prepare("SELECT key, value FROM device_labels WHERE device_id = ?"));
    labels.Bind(1, id);
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool more, labels.Step());
      if (!more) break;
      d.labels[labels.Text(0)] = labels.Text(1);
    }
    return d;
  }

  Result<std::vector<DeviceRecord>> ListDevices(const std::string& site) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kDeviceColumns +
                                               " FROM devices WHERE (?1 = '' OR site = ?1) ORDER BY site, id"));
    st.Bind(1, site);
    std::vector<DeviceRecord> out;
    std::map<std::string, size_t> index;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadDevice(st));
      index[out.back().id] = out.size() - 1;
    }
    // Labels of the listed devices, in one pass.
    EDGE_ASSIGN_OR_RETURN(auto labels, db_->Prepare(
        "SELECT l.device_id, l.key, l.value FROM device_labels l JOIN devices d ON d.id = l.device_id "
        "WHERE (?1 = '' OR d.site = ?1)"));
    labels.Bind(1, site);
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, labels.Step());
      if (!row) break;
      if (auto it = index.find(labels.Text(0)); it != index.end()) out[it->second].labels[labels.Text(1)] = labels.Text(2);
    }
    return out;
  }

  Result<DeviceRecord> SetDeviceLabels(const std::string& id, const std::map<std::string, std::string>& set,
                                       const std::vector<std::string>& remove, const std::string& actor,
                                       int64_t now) override {
    return db_->Write([&]() -> Result<DeviceRecord> {
      EDGE_ASSIGN_OR_RETURN(auto before, GetDevice(id));
      for (const auto& key : remove) {
        EDGE_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM device_labels WHERE device_id = ? AND key = ?"));
        del.Bind(1, id).Bind(2, key);
        EDGE_TRY(del.Run());
        before.labels.erase(key);
      }
      std::string detail;
      for (const auto& [key, value] : set) {
        EDGE_ASSIGN_OR_RETURN(auto up, db_->Prepare(
            "INSERT INTO device_labels(device_id, key, value) VALUES (?, ?, ?) "
            "ON CONFLICT(device_id, key) DO UPDATE SET value = excluded.value"));
        up.Bind(1, id).Bind(2, key).Bind(3, value);
        EDGE_TRY(up.Run());
        before.labels[key] = value;
        detail += (detail.empty() ? "" : " ") + key + "=" + value;
      }
      for (const auto& key : remove) detail += (detail.empty() ? "" : " ") + key + "-";
      if (before.labels.size() > kMaxLabelsPerDevice)
        return Fail(ErrorCode::kInvalidArgument, "device " + id + " would have " + std::to_string(before.labels.size()) +
                                                     " labels; at most " + std::to_string(kMaxLabelsPerDevice));
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "device.label", "device/" + id, detail}));
      return before;
    });
  }

  Status RenewDeviceCert(const std::string& id, const std::string& old_serial, const std::string& new_serial,
                         int64_t not_after, int64_t now) override {
    return db_->Write([&]() -> Status {
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
          "UPDATE devices SET cert_serial = ?, cert_not_after = ? WHERE id = ? AND cert_serial = ? AND revoked = 0"));
      st.Bind(1, new_serial).Bind(2, not_after).Bind(3, id).Bind(4, old_serial);
      EDGE_TRY(st.Run());
      if (db_->Changes() == 0)
        return Fail(ErrorCode::kUnauthenticated, "certificate serial " + old_serial + " is not device " + id +
                                                     "'s current certificate (or the device is revoked)");
      EDGE_TRY(DenySerial(*db_, {old_serial, "device/" + id, "renewed", now, "device/" + id}));
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, "device/" + id, "device.renew", "device/" + id,
                                                      "serial=" + new_serial + " replaces=" + old_serial}));
      return Ok();
    });
  }

  Result<DeviceRecord> RevokeDevice(const std::string& id, const std::string& actor, const std::string& reason,
                                    int64_t now) override {
    return db_->Write([&]() -> Result<DeviceRecord> {
      EDGE_ASSIGN_OR_RETURN(auto device, GetDevice(id));
      if (device.revoked) return device;
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare("UPDATE devices SET revoked = 1 WHERE id = ?"));
      st.Bind(1, id);
      EDGE_TRY(st.Run());
      EDGE_TRY(DenySerial(*db_, {device.cert_serial, "device/" + id, "revoked", now, actor}));
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "device.revoke", "device/" + id,
                                                      "serial=" + device.cert_serial + (reason.empty() ? "" : " reason=" + reason)}));
      EDGE_TRY(Changed("revoked", id, now));
      device.revoked = true;
      return device;
    });
  }

  Result<std::vector<std::string>> DecommissionDevice(const std::string& id, const std::string& actor,
                                                      const std::string& reason, int64_t now) override {
    return db_->Write([&]() -> Result<std::vector<std::string>> {
      EDGE_ASSIGN_OR_RETURN(auto device, GetDevice(id));
      EDGE_TRY(DenySerial(*db_, {device.cert_serial, "device/" + id, "decommissioned", now, actor}));
      for (const char* table : {"desired_models", "reported_models", "device_health", "device_health_history", "device_events",
                                "device_labels"}) {
        EDGE_ASSIGN_OR_RETURN(auto del, db_->Prepare(std::string("DELETE FROM ") + table + " WHERE device_id = ?"));
        del.Bind(1, id);
        EDGE_TRY(del.Run());
      }
      EDGE_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM devices WHERE id = ?"));
      del.Bind(1, id);
      EDGE_TRY(del.Run());
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "device.decommission", "device/" + id,
                                                      "site=" + device.site + " serial=" + device.cert_serial +
                                                          (reason.empty() ? "" : " reason=" + reason)}));
      EDGE_TRY(Changed("revoked", id, now));
      EDGE_ASSIGN_OR_RETURN(auto denied, db_->Prepare("SELECT serial FROM denied_serials WHERE identity = ? ORDER BY denied_at, serial"));
      denied.Bind(1, "device/" + id);
      std::vector<std::string> serials;
      for (;;) {
        EDGE_ASSIGN_OR_RETURN(bool row, denied.Step());
        if (!row) break;
        serials.push_back(denied.Text(0));
      }
      return serials;
    });
  }

  Result<std::optional<DeniedSerialRecord>> FindDeniedSerial(const std::string& serial) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT serial, identity, reason, denied_at, denied_by FROM denied_serials WHERE serial = ?"));
    st.Bind(1, serial);
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<DeniedSerialRecord>();
    return std::optional<DeniedSerialRecord>(DeniedSerialRecord{st.Text(0), st.Text(1), st.Text(2), st.Int(3), st.Text(4)});
  }

  Result<std::vector<TokenInfoRecord>> ListTokens(const std::string& site, bool all, int64_t now) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        std::string("SELECT substr(token_hash, 1, 16), site, created_by, created_at, expires_at, ") + kTokenState +
        ", coalesce(used_by, '') FROM enrollment_tokens WHERE (?2 = '' OR site = ?2) ORDER BY created_at, token_hash"));
    st.Bind(1, now).Bind(2, site);
    std::vector<TokenInfoRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      TokenInfoRecord t{st.Text(0), st.Text(1), st.Text(2), st.Int(3), st.Int(4), st.Text(5), st.Text(6)};
      if (all || t.state == "unused") out.push_back(std::move(t));
    }
    return out;
  }

  Result<TokenInfoRecord> RevokeToken(const std::string& id, const std::string& actor, const std::string& reason,
                                      int64_t now) override {
    return db_->Write([&]() -> Result<TokenInfoRecord> {
      EDGE_ASSIGN_OR_RETURN(auto tokens, ListTokens("", true, now));
      const TokenInfoRecord* found = nullptr;
      for (const auto& t : tokens)
        if (t.id == id) found = &t;
      if (!found) return Fail(ErrorCode::kNotFound, "no enrollment token with id " + id + " (see: edgectl token list --all)");
      TokenInfoRecord t = *found;
      if (t.state == "used")
        return Fail(ErrorCode::kFailedPrecondition, "token " + id + " was already used by device " + t.used_by +
                                                        "; to remove that device: edgectl decommission device " + t.used_by);
      if (t.state == "revoked") return t;
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
          "UPDATE enrollment_tokens SET revoked_at = ?, revoked_by = ? WHERE substr(token_hash, 1, 16) = ?"));
      st.Bind(1, now).Bind(2, actor).Bind(3, id);
      EDGE_TRY(st.Run());
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "token.revoke", "site/" + t.site,
                                                      "token=" + id + (reason.empty() ? "" : " reason=" + reason)}));
      t.state = "revoked";
      return t;
    });
  }

  Result<std::optional<OperatorRecord>> GetOperator(const std::string& name) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kOperatorColumns + " FROM operators WHERE name = ?"));
    st.Bind(1, name);
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<OperatorRecord>();
    return std::optional<OperatorRecord>(ReadOperator(st));
  }

  Result<std::vector<OperatorRecord>> ListOperators() override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kOperatorColumns + " FROM operators ORDER BY name"));
    std::vector<OperatorRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadOperator(st));
    }
    return out;
  }

  Result<OperatorRecord> AddOperator(const std::string& name, const std::string& role, const std::string& actor,
                                     int64_t now) override {
    if (!IsRole(role)) return Fail(ErrorCode::kInvalidArgument, "role must be viewer, deployer or admin, not '" + role + "'");
    return db_->Write([&]() -> Result<OperatorRecord> {
      EDGE_ASSIGN_OR_RETURN(auto existing, GetOperator(name));
      if (existing)
        return Fail(ErrorCode::kAlreadyExists, "operator " + name + " already exists" +
                                                   (existing->revoked ? " and is revoked; revoked operators stay revoked: pick another name"
                                                                      : " (change its role with: edgectl operator set-role " + name + " ROLE)"));
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
          "INSERT INTO operators(name, role, created_by, created_at) VALUES (?, ?, ?, ?)"));
      st.Bind(1, name).Bind(2, role).Bind(3, actor).Bind(4, now);
      EDGE_TRY(st.Run());
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "operator.add", "operator/" + name, "role=" + role}));
      return OperatorRecord{name, role, false, actor, now, 0, ""};
    });
  }

  Result<OperatorRecord> SetOperatorRole(const std::string& name, const std::string& role, const std::string& actor,
                                         int64_t now) override {
    if (!IsRole(role)) return Fail(ErrorCode::kInvalidArgument, "role must be viewer, deployer or admin, not '" + role + "'");
    return db_->Write([&]() -> Result<OperatorRecord> {
      EDGE_ASSIGN_OR_RETURN(auto op, RequireOperator(name));
      if (op.revoked) return Fail(ErrorCode::kFailedPrecondition, "operator " + name + " is revoked");
      if (op.role == "admin" && role != "admin") EDGE_TRY(KeepOneAdmin(name));
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare("UPDATE operators SET role = ? WHERE name = ?"));
      st.Bind(1, role).Bind(2, name);
      EDGE_TRY(st.Run());
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "operator.set-role", "operator/" + name,
                                                      "role=" + role + " was=" + op.role}));
      op.role = role;
      return op;
    });
  }

  Result<OperatorRecord> RevokeOperator(const std::string& name, const std::string& actor, const std::string& reason,
                                        int64_t now) override {
    return db_->Write([&]() -> Result<OperatorRecord> {
      EDGE_ASSIGN_OR_RETURN(auto op, RequireOperator(name));
      if (op.revoked) return op;
      if (op.role == "admin") EDGE_TRY(KeepOneAdmin(name));
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare("UPDATE operators SET revoked = 1 WHERE name = ?"));
      st.Bind(1, name);
      EDGE_TRY(st.Run());
      EDGE_TRY(DenySerial(*db_, {op.last_serial, "operator/" + name, "revoked", now, actor}));
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "operator.revoke", "operator/" + name,
                                                      "serial=" + (op.last_serial.empty() ? "-" : op.last_serial) +
                                                          (reason.empty() ? "" : " reason=" + reason)}));
      op.revoked = true;
      return op;
    });
  }

  Status TouchOperator(const std::string& name, const std::string& serial, int64_t now) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "UPDATE operators SET last_seen = ?1, last_serial = ?2 WHERE name = ?3 AND (last_serial != ?2 OR last_seen < ?1 - 60)"));
    st.Bind(1, now).Bind(2, serial).Bind(3, name);
    return st.Run();
  }

  Result<bool> EnsureInitialAdmin(const std::string& name, int64_t now) override {
    return db_->Write([&]() -> Result<bool> {
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT count(*) FROM operators"));
      EDGE_TRY(st.Step());
      if (st.Int(0) > 0) return false;
      EDGE_ASSIGN_OR_RETURN(auto ins, db_->Prepare(
          "INSERT INTO operators(name, role, created_by, created_at) VALUES (?, 'admin', 'controller', ?)"));
      ins.Bind(1, name).Bind(2, now);
      EDGE_TRY(ins.Run());
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, "controller", "operator.add", "operator/" + name,
                                                      "role=admin (initial_admin)"}));
      return true;
    });
  }

  Result<std::optional<TrustPolicyRecord>> LatestTrustPolicy() override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT version, envelope, pushed_by, pushed_at FROM trust_policies ORDER BY version DESC LIMIT 1"));
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<TrustPolicyRecord>();
    return std::optional<TrustPolicyRecord>(
        TrustPolicyRecord{static_cast<uint64_t>(st.Int(0)), st.Blob(1), st.Text(2), st.Int(3)});
  }

  Status AddTrustPolicy(const TrustPolicyRecord& p) override {
    return db_->Write([&]() -> Status {
      EDGE_ASSIGN_OR_RETURN(auto latest, LatestTrustPolicy());
      if (latest && latest->version >= p.version)
        return Fail(ErrorCode::kFailedPrecondition, "trust policy v" + std::to_string(p.version) +
                                                        " is not newer than the stored v" + std::to_string(latest->version));
      EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
          "INSERT INTO trust_policies(version, envelope, pushed_by, pushed_at) VALUES (?, ?, ?, ?)"));
      st.Bind(1, static_cast<int64_t>(p.version)).BindBlob(2, p.envelope).Bind(3, p.pushed_by).Bind(4, p.pushed_at);
      EDGE_TRY(st.Run());
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, p.pushed_at, p.pushed_by, "trust.push", "trust-policy",
                                                      "version=" + std::to_string(p.version)}));
      return Changed("trust", std::to_string(p.version), p.pushed_at);
    });
  }

  Status RecordHello(const std::string& id, const std::string& agent_version, int64_t now) override {
    return sql_reports::RecordHello(*db_, id, agent_version, now);
  }

  Status RecordReport(const std::string& id, const std::vector<ReportedModelRecord>& models, int64_t now) override {
    return db_->Write([&] { return sql_reports::RecordModels(*db_, id, models, now); });
  }

  Result<std::vector<AgentReportOutcome>> RecordReports(const std::vector<AgentReport>& reports) override {
    return db_->Write([&] { return sql_reports::RecordBatch(*db_, options_, reports); });
  }

  Result<std::vector<DeviceModelView>> DeviceModels(const std::string& id) override {
    // Union of desired and reported models for the device.
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT m.model, coalesce(d.version, ''), r.version, r.security_version, r.state, r.target_version, r.detail, "
        "r.bytes_done, r.bytes_total, r.security_floor, r.updated_at FROM "
        "(SELECT model FROM desired_models WHERE device_id = ?1 UNION SELECT model FROM reported_models WHERE device_id = ?1) m "
        "LEFT JOIN desired_models d ON d.device_id = ?1 AND d.model = m.model "
        "LEFT JOIN reported_models r ON r.device_id = ?1 AND r.model = m.model ORDER BY m.model"));
    st.Bind(1, id);
    std::vector<DeviceModelView> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      DeviceModelView v{st.Text(0), st.Text(1), std::nullopt};
      if (!st.IsNull(2)) {
        v.reported = ReportedModelRecord{st.Text(0), st.Text(2), static_cast<uint64_t>(st.Int(3)), st.Text(4), st.Text(5),
                                         st.Text(6), static_cast<uint64_t>(st.Int(7)), static_cast<uint64_t>(st.Int(8)),
                                         static_cast<uint64_t>(st.Int(9)), st.Int(10)};
      }
      out.push_back(std::move(v));
    }
    return out;
  }

  Result<std::vector<DesiredModelRecord>> DesiredModels(const std::string& id) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT d.model, d.version, v.envelope FROM desired_models d JOIN model_versions v "
        "ON v.model = d.model AND v.version = d.version WHERE d.device_id = ? ORDER BY d.model"));
    st.Bind(1, id);
    std::vector<DesiredModelRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Text(0), st.Text(1), st.Blob(2)});
    }
    return out;
  }

  Result<bool> AddVersion(const VersionRecord& v, int64_t now) override {
    return db_->Write([&]() -> Result<bool> {
      EDGE_ASSIGN_OR_RETURN(auto existing, db_->Prepare("SELECT manifest_digest FROM model_versions WHERE model = ? AND version = ?"));
      existing.Bind(1, v.model).Bind(2, v.version);
      EDGE_ASSIGN_OR_RETURN(bool found, existing.Step());
      if (found) {
        if (existing.Text(0) == v.manifest_digest) return false;
        return Fail(ErrorCode::kAlreadyExists, "model " + v.model + ":" + v.version +
                                                   " already exists with a different manifest; versions are immutable, push a new version");
      }
      EDGE_ASSIGN_OR_RETURN(auto model, db_->Prepare("INSERT INTO models(name, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING"));
      model.Bind(1, v.model).Bind(2, now);
      EDGE_TRY(model.Run());
      EDGE_ASSIGN_OR_RETURN(auto ins, db_->Prepare(
          "INSERT INTO model_versions(model, version, security_version, manifest_digest, envelope, total_bytes, signed_by, "
          "pushed_by, pushed_at) VALUES (?,?,?,?,?,?,?,?,?)"));
      ins.Bind(1, v.model).Bind(2, v.version).Bind(3, static_cast<int64_t>(v.security_version)).Bind(4, v.manifest_digest)
          .BindBlob(5, v.envelope).Bind(6, static_cast<int64_t>(v.total_bytes)).Bind(7, v.signed_by).Bind(8, v.pushed_by)
          .Bind(9, now);
      EDGE_TRY(ins.Run());
      for (const auto& b : v.blobs) {
        EDGE_ASSIGN_OR_RETURN(auto blob, db_->Prepare("INSERT INTO blobs(digest, size, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"));
        blob.Bind(1, b.digest).Bind(2, static_cast<int64_t>(b.size)).Bind(3, now);
        EDGE_TRY(blob.Run());
        EDGE_ASSIGN_OR_RETURN(auto link, db_->Prepare(
            "INSERT INTO version_blobs(model, version, digest, role) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING"));
        link.Bind(1, v.model).Bind(2, v.version).Bind(3, b.digest).Bind(4, b.role);
        EDGE_TRY(link.Run());
      }
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, v.pushed_by, "model.push", "model/" + v.model + ":" + v.version,
                                 "security_version=" + std::to_string(v.security_version) + " signed_by=" + v.signed_by}));
      return true;
    });
  }

  Result<std::vector<VersionRecord>> ListVersions() override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kVersionColumns +
                                               " FROM model_versions ORDER BY model, pushed_at, version"));
    std::vector<VersionRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadVersion(st));
    }
    return out;
  }

  Result<VersionRecord> GetVersion(const std::string& model, const std::string& version) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kVersionColumns +
                                               " FROM model_versions WHERE model = ? AND version = ?"));
    st.Bind(1, model).Bind(2, version);
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return Fail(ErrorCode::kNotFound, "model " + model + ":" + version + " has not been pushed");
    return ReadVersion(st);
  }

  Result<DeletedVersionRecord> DeleteVersion(const std::string& model, const std::string& version,
                                             const std::string& actor, const std::string& reason,
                                             int64_t now) override {
    return db_->Write([&]() -> Result<DeletedVersionRecord> {
      DeletedVersionRecord out;
      EDGE_ASSIGN_OR_RETURN(out.version, GetVersion(model, version));
      EDGE_TRY(CheckVersionUnused(model, version));
      EDGE_ASSIGN_OR_RETURN(auto blobs, db_->Prepare(
          "SELECT vb.digest, vb.role, b.size, "
          "EXISTS (SELECT 1 FROM version_blobs o WHERE o.digest = vb.digest AND (o.model <> vb.model OR o.version <> vb.version)) "
          "FROM version_blobs vb JOIN blobs b ON b.digest = vb.digest WHERE vb.model = ? AND vb.version = ? ORDER BY vb.digest"));
      blobs.Bind(1, model).Bind(2, version);
      for (;;) {
        EDGE_ASSIGN_OR_RETURN(bool row, blobs.Step());
        if (!row) break;
        out.version.blobs.push_back({blobs.Text(0), blobs.Text(1), static_cast<uint64_t>(blobs.Int(2))});
        (blobs.Int(3) != 0 ? out.shared_blobs : out.unreferenced_blobs).push_back(blobs.Text(0));
      }
      EDGE_ASSIGN_OR_RETURN(auto unlink, db_->Prepare("DELETE FROM version_blobs WHERE model = ? AND version = ?"));
      unlink.Bind(1, model).Bind(2, version);
      EDGE_TRY(unlink.Run());
      for (const auto& digest : out.unreferenced_blobs) {
        EDGE_ASSIGN_OR_RETURN(auto del_blob, db_->Prepare("DELETE FROM blobs WHERE digest = ?"));
        del_blob.Bind(1, digest);
        EDGE_TRY(del_blob.Run());
      }
      EDGE_ASSIGN_OR_RETURN(auto del, db_->Prepare("DELETE FROM model_versions WHERE model = ? AND version = ?"));
      del.Bind(1, model).Bind(2, version);
      EDGE_TRY(del.Run());
      std::string detail = "security_version=" + std::to_string(out.version.security_version) +
                           " blobs_removed=" + std::to_string(out.unreferenced_blobs.size()) +
                           " blobs_shared=" + std::to_string(out.shared_blobs.size());
      if (!reason.empty()) detail += " reason=" + reason;
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, "model.delete", "model/" + model + ":" + version, detail}));
      return out;
    });
  }

  // `sql` run with ?1 = model and ?2 = version, on its first row; nullopt when it has none.
  Result<std::optional<Statement>> FirstRow(const char* sql, const std::string& model, const std::string& version) {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(sql));
    st.Bind(1, model).Bind(2, version);
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<Statement>();
    return std::optional<Statement>(std::move(st));
  }

  // The first thing that still needs model:version, as a refusal that names it and the command
  // that frees it; Ok when nothing does.
  Status CheckVersionUnused(const std::string& model, const std::string& version) {
    const std::string ref = model + ":" + version;
    auto refuse = [&](const std::string& why) {
      return Fail(ErrorCode::kFailedPrecondition, "model " + ref + " is still needed: " + why);
    };
    const std::string deploy_other = "edgectl deploy model " + model + ":VERSION --device ";
    EDGE_ASSIGN_OR_RETURN(auto desired, FirstRow(
        "SELECT device_id, count(*) OVER () FROM desired_models WHERE model = ?1 AND version = ?2 ORDER BY device_id LIMIT 1",
        model, version));
    if (desired) {
      const std::string device = desired->Text(0);
      return refuse(std::to_string(desired->Int(1)) + " device(s) have it as their desired version, e.g. " + device +
                    "; deploy another version to them (" + deploy_other + device +
                    ") or remove the device (edgectl delete device " + device + ")");
    }
    // The version a device runs, whatever its update state, and one it is on the way to.
    EDGE_ASSIGN_OR_RETURN(auto reported, FirstRow(
        "SELECT device_id, state, version = ?2 FROM reported_models WHERE model = ?1 AND (version = ?2 OR "
        "(target_version = ?2 AND state NOT IN ('idle', 'committed', 'failed', 'rolled_back'))) ORDER BY device_id LIMIT 1",
        model, version));
    if (reported) {
      const std::string device = reported->Text(0);
      return refuse("device " + device + " reports " +
                    (reported->Int(2) != 0 ? "running it (" + reported->Text(1) + ")" : "it as " + reported->Text(1)) +
                    "; move it to another version first (" + deploy_other + device +
                    ") or remove the device (edgectl delete device " + device + ")");
    }
    // A live or standing rollout may still dispatch it, or send devices back to it on revert.
    EDGE_ASSIGN_OR_RETURN(auto rollout, FirstRow(
        "SELECT id, state, version = ?2 FROM rollouts WHERE model = ?1 AND state IN ('running', 'paused', 'completed', 'reverting') "
        "AND (version = ?2 OR id IN (SELECT rollout_id FROM rollout_devices WHERE from_version = ?2)) ORDER BY id LIMIT 1",
        model, version));
    if (rollout) {
      const std::string id = std::to_string(rollout->Int(0));
      const std::string state = rollout->Text(1);
      const std::string what = rollout->Int(2) != 0
          ? (state == "completed" ? "its target is standing: a device that joins it gets this version"
                                  : "it deploys this version")
          : "devices it moved came from this version and a revert sends them back to it";
      return refuse("rollout " + id + " (" + state + "): " + what + "; " +
                    (state == "reverting" ? "wait until its revert ends (edgectl rollout watch " + id + ")"
                                          : "end it with: edgectl rollout abort " + id));
    }
    // Where a device would roll back to: the version it came from in the rollout that gave it
    // the version it desires now (the agent keeps it as `previous`).
    EDGE_ASSIGN_OR_RETURN(auto previous, FirstRow(
        "SELECT rd.device_id, r.id, r.version FROM rollout_devices rd JOIN rollouts r ON r.id = rd.rollout_id "
        "JOIN desired_models d ON d.device_id = rd.device_id AND d.model = r.model AND d.version = r.version "
        "WHERE r.model = ?1 AND rd.from_version = ?2 ORDER BY rd.device_id LIMIT 1",
        model, version));
    if (previous)
      return refuse("device " + previous->Text(0) + " would roll back to it (rollout " + std::to_string(previous->Int(1)) +
                    " moved it from this version to " + previous->Text(2) + "); deploy a later version to it first (" +
                    deploy_other + previous->Text(0) + ")");
    return Ok();
  }

  Result<std::map<std::string, int64_t>> CountRolloutStates() override {
    return CountByState("SELECT state, COUNT(*) FROM rollouts GROUP BY state");
  }

  Result<std::map<std::string, int64_t>> CountReportedStates() override {
    return CountByState("SELECT r.state, COUNT(*) FROM reported_models r JOIN devices d ON d.id = r.device_id "
                        "WHERE d.revoked = 0 GROUP BY r.state");
  }

  Result<std::map<std::string, int64_t>> CountByState(const char* sql) {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(sql));
    std::map<std::string, int64_t> out;
    while (true) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out[st.Text(0)] = st.Int(1);
    }
    return out;
  }

  Result<bool> HasBlob(const std::string& digest) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT 1 FROM blobs WHERE digest = ?"));
    st.Bind(1, digest);
    return st.Step();
  }

  Result<std::optional<uint64_t>> BlobSizeForDevice(const std::string& device_id, const std::string& digest) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT b.size FROM blobs b JOIN version_blobs vb ON vb.digest = b.digest "
        "JOIN desired_models d ON d.model = vb.model AND d.version = vb.version "
        "WHERE d.device_id = ? AND b.digest = ? LIMIT 1"));
    st.Bind(1, device_id).Bind(2, digest);
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<uint64_t>();
    return std::optional<uint64_t>(static_cast<uint64_t>(st.Int(0)));
  }

  Status RecordHealth(const std::string& id, const HealthRecord& h) override {
    return db_->Write([&] { return sql_reports::RecordHealth(*db_, options_, id, h); });
  }

  Result<std::optional<HealthRecord>> LatestHealth(const std::string& id) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare("SELECT health_json FROM device_health WHERE device_id = ?"));
    st.Bind(1, id);
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) return std::optional<HealthRecord>();
    EDGE_ASSIGN_OR_RETURN(auto h, HealthFromJson(st.Text(0)));
    return std::optional<HealthRecord>(std::move(h));
  }

  Result<std::vector<HealthRecord>> HealthHistory(const std::string& id, uint32_t limit) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT sample_json FROM device_health_history WHERE device_id = ? ORDER BY id DESC LIMIT ?"));
    st.Bind(1, id).Bind(2, static_cast<int64_t>(limit));
    std::vector<HealthRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      EDGE_ASSIGN_OR_RETURN(auto h, HealthFromJson(st.Text(0)));
      out.push_back(std::move(h));
    }
    return out;
  }

  Result<EventsRecorded> RecordEvents(const std::string& id, const std::vector<UpdateEventRecord>& events,
                                      int64_t now) override {
    return db_->Write([&] { return sql_reports::RecordEvents(*db_, options_, id, events, now); });
  }

  Result<std::vector<UpdateEventRecord>> ListEvents(const std::string& id, uint32_t limit) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(std::string("SELECT ") + kEventColumns +
                                               " FROM device_events WHERE device_id = ? ORDER BY seq DESC LIMIT ?"));
    st.Bind(1, id).Bind(2, static_cast<int64_t>(limit));
    std::vector<UpdateEventRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back(ReadEvent(st));
    }
    return out;
  }

  Result<rollout::Rollout> CreateRollout(rollout::Rollout r, int64_t now) override {
    return db_->Write([&]() -> Result<rollout::Rollout> {
      r.created_at = now;
      EDGE_ASSIGN_OR_RETURN(auto created, sql_rollouts::Insert(*db_, std::move(r)));
      EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, created.created_by, "rollout.create",
                                 "rollout/" + std::to_string(created.id), created.model + ":" + created.version}));
      EDGE_TRY(Changed("rollout", std::to_string(created.id), now));
      return created;
    });
  }

  Result<std::vector<rollout::Rollout>> LiveRollouts() override {
    return sql_rollouts::Load(*db_, sql_rollouts::Rows::kCounts, "state IN ('running', 'paused', 'completed', 'reverting')",
                              "ORDER BY id");
  }

  Result<rollout::Rollout> GetRollout(int64_t id) override {
    EDGE_ASSIGN_OR_RETURN(auto found, sql_rollouts::Load(*db_, sql_rollouts::Rows::kAll, "id = ?1", "", {id}));
    if (found.empty()) return Fail(ErrorCode::kNotFound, "no rollout " + std::to_string(id));
    return std::move(found.front());
  }

  Result<std::vector<rollout::Rollout>> ListRollouts(bool all, uint32_t limit) override {
    return sql_rollouts::Load(*db_, sql_rollouts::Rows::kCounts, all ? "TRUE" : "state IN ('running', 'paused', 'completed', 'reverting') OR id IN "
                                                   "(SELECT id FROM rollouts ORDER BY id DESC LIMIT 20)",
                              "ORDER BY id DESC LIMIT ?1", {std::clamp<int64_t>(limit, 1, 1000)});
  }

  Result<std::vector<std::string>> SaveRolloutStep(const rollout::Step& step, const std::string& actor,
                                                   const std::string& audit_action, int64_t now) override {
    return db_->Write([&]() -> Result<std::vector<std::string>> {
      EDGE_ASSIGN_OR_RETURN(auto changed, sql_rollouts::SaveStep(*db_, step, now));
      for (const auto& device : changed) EDGE_TRY(Changed("desired", device, now));
      if (!actor.empty()) {
        EDGE_TRY(InsertAudit(*db_, options_.audit_rows, {0, now, actor, audit_action,
                                   "rollout/" + std::to_string(step.rollout.id), step.rollout.reason}));
        EDGE_TRY(Changed("rollout", std::to_string(step.rollout.id), now));
      }
      return changed;
    });
  }

  Result<std::vector<RolloutEventRecord>> RolloutEvents(int64_t id, int64_t after_id, uint32_t limit) override {
    return sql_rollouts::Events(*db_, id, after_id, limit);
  }

  Result<std::vector<FleetDeviceRecord>> FleetForModel(const std::string& model) override {
    return sql_rollouts::Fleet(*db_, model);
  }

  Status Audit(const AuditRecord& entry) override {
    if (!IsAuditResult(entry.result)) return Fail(ErrorCode::kInvalidArgument, "not an audit result");
    return db_->Write([&] { return InsertAudit(*db_, options_.audit_rows, entry); });
  }

  Result<std::vector<AuditRecord>> ListAudit(const AuditFilter& f) override {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT id, at, actor, action, target, detail, result FROM audit WHERE (?1 = '' OR target = ?1) "
        "AND (?3 = '' OR actor = ?3) AND (?4 = '' OR action = ?4) "
        "AND (?5 = '' OR result = ?5 OR (?5 = 'refused' AND result <> 'ok')) ORDER BY id DESC LIMIT ?2"));
    st.Bind(1, f.target).Bind(2, static_cast<int64_t>(f.limit == 0 ? 100 : f.limit)).Bind(3, f.actor).Bind(4, f.action)
        .Bind(5, f.result);
    std::vector<AuditRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      out.push_back({st.Int(0), st.Int(1), st.Text(2), st.Text(3), st.Text(4), st.Text(5), st.Text(6)});
    }
    return out;
  }

  Result<PlannerLease> Heartbeat(const ControllerRecord& self, const ClusterTimes& times, int64_t now) override {
    return db_->Write([&] { return sql_cluster::Heartbeat(*db_, self, times, now); });
  }
  Status ForgetDeadControllers(const ClusterTimes& times, int64_t now) override {
    return db_->Write([&] { return sql_cluster::Forget(*db_, times, now); });
  }
  Status LeaveCluster(const std::string& id) override {
    return db_->Write([&] { return sql_cluster::Leave(*db_, id); });
  }
  Result<std::vector<ControllerRecord>> ListControllers() override { return sql_cluster::List(*db_); }
  Result<std::vector<std::string>> OnlineElsewhere(const std::string& self, const ClusterTimes& times,
                                                   int64_t now) override {
    return sql_cluster::OnlineElsewhere(*db_, self, times, now);
  }
  Result<int64_t> LastChange() override { return sql_cluster::LastChange(*db_); }
  Result<int64_t> OldestChange() override { return sql_cluster::OldestChange(*db_); }
  Result<int> ReconcileSessions(const std::string& controller, const std::set<uint64_t>& live_streams,
                                const std::vector<std::pair<std::string, uint64_t>>& held, int64_t now) override {
    return db_->Write([&] { return sql_cluster::ReconcileSessions(*db_, controller, live_streams, held, now); });
  }
  Result<std::vector<FleetChange>> ChangesSince(int64_t after_seq, uint32_t limit) override {
    return sql_cluster::ChangesSince(*db_, after_seq, limit);
  }

 private:
  // A change-feed entry, in cluster mode (inside the caller's transaction).
  Status Changed(std::string_view kind, const std::string& subject, int64_t now) {
    if (options_.cluster_id.empty()) return Ok();
    return sql_cluster::RecordChange(*db_, options_.cluster_id, kind, subject, now);
  }

  // The site of a token that may enroll `device_id` now; the errors EnrollDevice returns. They
  // never name the token's site: a token that leaked or was guessed tells nothing.
  Result<std::string> CheckToken(const std::string& token_hash, const std::string& device_id, int64_t now) {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT site, expires_at, used_at IS NOT NULL, revoked_at IS NOT NULL FROM enrollment_tokens WHERE token_hash = ?"));
    st.Bind(1, token_hash);
    EDGE_ASSIGN_OR_RETURN(bool found, st.Step());
    if (!found || st.Int(3) != 0) return Fail(ErrorCode::kPermissionDenied, "enrollment token is not valid");
    if (st.Int(2) != 0)
      return Fail(ErrorCode::kPermissionDenied, "enrollment token has already been used; ask an operator for a new one");
    if (st.Int(1) <= now) return Fail(ErrorCode::kPermissionDenied, "enrollment token expired; ask an operator for a new one");
    std::string site = st.Text(0);
    EDGE_ASSIGN_OR_RETURN(auto existing, db_->Prepare("SELECT 1 FROM devices WHERE id = ?"));
    existing.Bind(1, device_id);
    EDGE_ASSIGN_OR_RETURN(bool taken, existing.Step());
    if (taken)
      return Fail(ErrorCode::kAlreadyExists, "a device named '" + device_id +
                                                 "' is already enrolled; pick another device_name, or to replace that "
                                                 "gateway an operator runs: edgectl decommission device " + device_id);
    return site;
  }

  Result<OperatorRecord> RequireOperator(const std::string& name) {
    EDGE_ASSIGN_OR_RETURN(auto op, GetOperator(name));
    if (!op) return Fail(ErrorCode::kNotFound, "no operator named '" + name + "' (see: edgectl operator list)");
    return *op;
  }

  // The last admin cannot be demoted or revoked: nobody could manage operators again.
  Status KeepOneAdmin(const std::string& leaving) {
    EDGE_ASSIGN_OR_RETURN(auto st, db_->Prepare(
        "SELECT count(*) FROM operators WHERE role = 'admin' AND revoked = 0 AND name != ?"));
    st.Bind(1, leaving);
    EDGE_TRY(st.Step());
    if (st.Int(0) == 0)
      return Fail(ErrorCode::kFailedPrecondition, "operator " + leaving + " is the last admin; make another admin first");
    return Ok();
  }

  std::unique_ptr<sql::Connection> db_;
  StoreOptions options_;
};

}  // namespace

Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, StoreOptions options) {
  EDGE_ASSIGN_OR_RETURN(auto db, sql::SqliteConnection::Open(path));
  if (auto s = db->Migrate(Migrations()); !s) return Fail(s.error().Wrap("migrating controller store " + path));
  return std::unique_ptr<Store>(new SqlStore(std::move(db), options));
}

Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url, StoreOptions options) {
  EDGE_ASSIGN_OR_RETURN(auto db, sql::OpenPostgres(url));
  if (auto s = db->Migrate(postgres::Migrations()); !s)
    return Fail(s.error().Wrap("migrating controller store on " + db->Describe()));
  return std::unique_ptr<Store>(new SqlStore(std::move(db), options));
}

}  // namespace edge::controller
