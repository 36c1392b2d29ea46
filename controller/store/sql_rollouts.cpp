#include "controller/store/sql_rollouts.h"

#include <algorithm>
#include <map>

#include "controller/store/health_json.h"
#include "controller/store/rollout_json.h"

namespace edge::controller::sql_rollouts {
namespace {

using namespace rollout;

constexpr uint32_t kEventsPerRollout = 5000;  // newest kept per rollout

constexpr const char* kWriteDevice =
    "INSERT INTO rollout_devices(rollout_id, device_id, site, state, wave, from_version, dispatched_at, done_at, "
    "dispatches, baseline_json, detail) VALUES (?,?,?,?,?,?,?,?,?,?,?) "
    "ON CONFLICT(rollout_id, device_id) DO UPDATE SET site = excluded.site, state = excluded.state, "
    "wave = excluded.wave, from_version = excluded.from_version, dispatched_at = excluded.dispatched_at, "
    "done_at = excluded.done_at, dispatches = excluded.dispatches, detail = excluded.detail, "
    "baseline_json = COALESCE(excluded.baseline_json, rollout_devices.baseline_json)";

// `st` is kWriteDevice, prepared once per step (a wave may write thousands of rows).
Status WriteDevice(sql::Statement& st, int64_t rollout_id, const DeviceRow& d) {
  st.Reset();
  st.Bind(1, rollout_id).Bind(2, d.id).Bind(3, d.site).Bind(4, std::string(Name(d.state))).Bind(5, int64_t{d.wave})
      .Bind(6, d.from_version).Bind(7, d.dispatched_at).Bind(8, d.done_at).Bind(9, int64_t{d.dispatches}).Bind(11, d.detail);
  if (d.baseline) st.Bind(10, SampleToJson(*d.baseline));
  else st.BindNull(10);
  return st.Run();
}

// The incumbent's numbers on the device now: its latest health report's entry for `model` at
// `version`, if any.
Result<std::optional<rollout::HealthSample>> Baseline(sql::Connection& db, const std::string& device, const std::string& model,
                                             const std::string& version) {
  if (version.empty()) return std::optional<rollout::HealthSample>();
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT health_json FROM device_health WHERE device_id = ?"));
  st.Bind(1, device);
  EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return std::optional<rollout::HealthSample>();
  auto health = HealthFromJson(st.Text(0));
  if (!health) return std::optional<rollout::HealthSample>();  // an unreadable report is no baseline, not an error
  for (const auto& m : health->models)
    if (m.model == model && m.version == version)
      return std::optional<rollout::HealthSample>(rollout::HealthSample{m.version, m.inferences, m.errors, m.latency_bucket_upper_us,
                                                      m.latency_counts, m.last_selftest, m.last_selftest_at});
  return std::optional<rollout::HealthSample>();
}

// Replaces the rollout's row counts with those of its rows as saved now.
Status WriteCounts(sql::Connection& db, const Rollout& r) {
  EDGE_ASSIGN_OR_RETURN(auto del, db.Prepare("DELETE FROM rollout_counts WHERE rollout_id = ?"));
  del.Bind(1, r.id);
  EDGE_TRY(del.Run());
  EDGE_ASSIGN_OR_RETURN(auto ins, db.Prepare(
      "INSERT INTO rollout_counts(rollout_id, wave, state, devices, dispatched) VALUES (?, ?, ?, ?, ?)"));
  for (const auto& c : CountRows(r.devices)) {
    ins.Reset();
    ins.Bind(1, r.id).Bind(2, int64_t{c.wave}).Bind(3, std::string(Name(c.state))).Bind(4, int64_t{c.devices})
        .Bind(5, int64_t{c.dispatched});
    EDGE_TRY(ins.Run());
  }
  return Ok();
}

}  // namespace

Result<DesiredWriter> DesiredWriter::Prepare(sql::Connection& db) {
  EDGE_ASSIGN_OR_RETURN(auto cur, db.Prepare("SELECT version FROM desired_models WHERE device_id = ? AND model = ?"));
  EDGE_ASSIGN_OR_RETURN(auto up, db.Prepare(
      "INSERT INTO desired_models(device_id, model, version, updated_at) VALUES (?, ?, ?, ?) "
      "ON CONFLICT(device_id, model) DO UPDATE SET version = excluded.version, updated_at = excluded.updated_at"));
  EDGE_ASSIGN_OR_RETURN(auto gen, db.Prepare("UPDATE devices SET desired_generation = desired_generation + 1 WHERE id = ?"));
  return DesiredWriter(db, std::move(cur), std::move(up), std::move(gen));
}

Result<bool> DesiredWriter::Set(const std::string& device, const std::string& model, const std::string& version, int64_t now) {
  cur_.Reset();
  cur_.Bind(1, device).Bind(2, model);
  EDGE_ASSIGN_OR_RETURN(bool has, cur_.Step());
  if (has && cur_.Text(0) == version) return false;
  up_.Reset();
  up_.Bind(1, device).Bind(2, model).Bind(3, version).Bind(4, now);
  EDGE_TRY(up_.Run());
  gen_.Reset();
  gen_.Bind(1, device);
  EDGE_TRY(gen_.Run());
  return db_->Changes() > 0;
}

Result<Rollout> Insert(sql::Connection& db, Rollout r) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
      "INSERT INTO rollouts(model, version, security_version, target_json, strategy_json, state, wave, waves_json, "
      "reason, override_gate, created_by, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id"));
  st.Bind(1, r.model).Bind(2, r.version).Bind(3, static_cast<int64_t>(r.security_version)).Bind(4, TargetToJson(r.target))
      .Bind(5, StrategyToJson(r.strategy)).Bind(6, std::string(Name(r.state))).Bind(7, int64_t{r.wave})
      .Bind(8, WavesToJson(r.waves)).Bind(9, r.reason).Bind(10, int64_t{r.override_gate}).Bind(11, r.created_by)
      .Bind(12, r.created_at).Bind(13, r.created_at);
  EDGE_ASSIGN_OR_RETURN(r.id, st.RunReturningId());
  r.updated_at = r.created_at;
  return r;
}

Result<std::vector<Rollout>> Load(sql::Connection& db, Rows rows_too, const std::string& where,
                                  const std::string& order_limit, const std::vector<int64_t>& params) {
  return db.Read([&]() -> Result<std::vector<Rollout>> {
    EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
        "SELECT id, model, version, security_version, target_json, strategy_json, state, wave, waves_json, reason, "
        "override_gate, created_by, created_at, updated_at, revision FROM rollouts WHERE " + where + " " + order_limit));
    for (size_t i = 0; i < params.size(); ++i) st.Bind(static_cast<int>(i + 1), params[i]);
    std::vector<Rollout> out;
    std::map<int64_t, size_t> index;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      Rollout r;
      r.id = st.Int(0);
      r.model = st.Text(1);
      r.version = st.Text(2);
      r.security_version = static_cast<uint64_t>(st.Int(3));
      EDGE_ASSIGN_OR_RETURN(r.target, TargetFromJson(st.Text(4)));
      EDGE_ASSIGN_OR_RETURN(r.strategy, StrategyFromJson(st.Text(5)));
      auto state = ParseState(st.Text(6));
      if (!state) return Fail(ErrorCode::kDataLoss, "rollout " + std::to_string(r.id) + " has an unknown state '" + st.Text(6) + "'");
      r.state = *state;
      r.wave = static_cast<uint32_t>(st.Int(7));
      EDGE_ASSIGN_OR_RETURN(r.waves, WavesFromJson(st.Text(8)));
      r.reason = st.Text(9);
      r.override_gate = st.Int(10) != 0;
      r.created_by = st.Text(11);
      r.created_at = st.Int(12);
      r.updated_at = st.Int(13);
      r.revision = st.Int(14);
      index[r.id] = out.size();
      out.push_back(std::move(r));
    }
    if (out.empty()) return out;
    const std::string ids = "(SELECT id FROM rollouts WHERE " + where + " " + order_limit + ")";
    if (rows_too == Rows::kCounts) {
      EDGE_ASSIGN_OR_RETURN(auto counts, db.Prepare(
          "SELECT rollout_id, wave, state, devices, dispatched FROM rollout_counts WHERE rollout_id IN " + ids +
          " ORDER BY rollout_id, wave, state"));
      for (size_t i = 0; i < params.size(); ++i) counts.Bind(static_cast<int>(i + 1), params[i]);
      for (auto& r : out) r.rows_loaded = false;
      for (;;) {
        EDGE_ASSIGN_OR_RETURN(bool row, counts.Step());
        if (!row) break;
        auto it = index.find(counts.Int(0));
        if (it == index.end()) continue;
        auto ds = ParseDeviceState(counts.Text(2));
        if (!ds) return Fail(ErrorCode::kDataLoss, "rollout counts name an unknown state '" + counts.Text(2) + "'");
        out[it->second].counts.push_back(RowCount{static_cast<int32_t>(counts.Int(1)), *ds,
                                                  static_cast<uint32_t>(counts.Int(3)), static_cast<uint32_t>(counts.Int(4))});
      }
      for (auto& r : out)  // in CountRows' order
        std::sort(r.counts.begin(), r.counts.end(),
                  [](const RowCount& a, const RowCount& b) { return std::pair(a.wave, a.state) < std::pair(b.wave, b.state); });
      return out;
    }
    // Device rows of the loaded rollouts, in one pass. A row's baseline (a health sample as
    // JSON) is read only where the health gate may judge it, the current wave of a running
    // rollout: decoding every row's took most of a tick at 10,000 devices. A row written back
    // without it keeps the stored one (kWriteDevice).
    EDGE_ASSIGN_OR_RETURN(auto rows, db.Prepare(
        "SELECT d.rollout_id, d.device_id, d.site, d.state, d.wave, d.from_version, d.dispatched_at, d.done_at, "
        "d.dispatches, CASE WHEN r.state = 'running' AND d.wave = r.wave THEN d.baseline_json END, d.detail "
        "FROM rollout_devices d JOIN rollouts r ON r.id = d.rollout_id WHERE d.rollout_id IN " + ids +
        " ORDER BY d.rollout_id, d.device_id"));
    for (size_t i = 0; i < params.size(); ++i) rows.Bind(static_cast<int>(i + 1), params[i]);
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, rows.Step());
      if (!row) break;
      auto it = index.find(rows.Int(0));
      if (it == index.end()) continue;
      DeviceRow d;
      d.id = rows.Text(1);
      d.site = rows.Text(2);
      auto ds = ParseDeviceState(rows.Text(3));
      if (!ds) return Fail(ErrorCode::kDataLoss, "rollout device " + d.id + " has an unknown state '" + rows.Text(3) + "'");
      d.state = *ds;
      d.wave = static_cast<int32_t>(rows.Int(4));
      d.from_version = rows.Text(5);
      d.dispatched_at = rows.Int(6);
      d.done_at = rows.Int(7);
      d.dispatches = static_cast<uint32_t>(rows.Int(8));
      if (!rows.IsNull(9)) {
        EDGE_ASSIGN_OR_RETURN(auto b, SampleFromJson(rows.Text(9)));
        d.baseline = std::move(b);
      }
      d.detail = rows.Text(10);
      out[it->second].devices.push_back(std::move(d));
    }
    for (auto& r : out) r.counts = CountRows(r.devices);
    return out;
  });
}

Result<std::vector<std::string>> SaveStep(sql::Connection& db, const Step& step, int64_t now) {
  const Rollout& r = step.rollout;
  if (!r.rows_loaded)  // its counts would be rewritten from rows it does not have
    return Fail(ErrorCode::kInternal, "rollout " + std::to_string(r.id) + " was planned without its device rows");
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
      "UPDATE rollouts SET state = ?, wave = ?, waves_json = ?, reason = ?, override_gate = ?, updated_at = ?, "
      "revision = revision + 1 WHERE id = ? AND revision = ?"));
  st.Bind(1, std::string(Name(r.state))).Bind(2, int64_t{r.wave}).Bind(3, WavesToJson(r.waves)).Bind(4, r.reason)
      .Bind(5, int64_t{r.override_gate}).Bind(6, r.updated_at ? r.updated_at : now).Bind(7, r.id).Bind(8, r.revision);
  EDGE_TRY(st.Run());
  if (db.Changes() == 0) {
    EDGE_ASSIGN_OR_RETURN(auto exists, db.Prepare("SELECT revision FROM rollouts WHERE id = ?"));
    exists.Bind(1, r.id);
    EDGE_ASSIGN_OR_RETURN(bool found, exists.Step());
    if (!found) return Fail(ErrorCode::kNotFound, "rollout " + std::to_string(r.id) + " does not exist");
    // Another controller saved a step of this rollout since this one was planned: planning
    // again from what it wrote is the only way to neither undo it nor dispatch twice.
    return Fail(ErrorCode::kFailedPrecondition, "rollout " + std::to_string(r.id) + " changed since it was read (revision " +
                                         std::to_string(r.revision) + ", now " + std::to_string(exists.Int(0)) +
                                         "): try again");
  }
  std::map<std::string, const DeviceRow*> rows;
  for (const auto& d : r.devices) rows[d.id] = &d;
  std::vector<std::string> changed;
  std::map<std::string, std::optional<rollout::HealthSample>> baselines;
  EDGE_ASSIGN_OR_RETURN(auto desired, DesiredWriter::Prepare(db));
  for (const auto& d : step.dispatches) {
    if (!d.revert) {
      auto row = rows.find(d.device);
      const std::string from = row == rows.end() ? "" : row->second->from_version;
      EDGE_ASSIGN_OR_RETURN(baselines[d.device], Baseline(db, d.device, r.model, from));
    }
    EDGE_ASSIGN_OR_RETURN(bool moved, desired.Set(d.device, r.model, d.version, now));
    if (moved) changed.push_back(d.device);
  }
  EDGE_ASSIGN_OR_RETURN(auto write_device, db.Prepare(kWriteDevice));
  bool rows_changed = false;
  for (const auto& d : r.devices) {
    if (!d.dirty) continue;
    rows_changed = true;
    auto b = baselines.find(d.id);
    if (b == baselines.end() || !b->second) {
      EDGE_TRY(WriteDevice(write_device, r.id, d));
    } else {
      DeviceRow with = d;
      with.baseline = b->second;
      EDGE_TRY(WriteDevice(write_device, r.id, with));
    }
  }
  if (rows_changed) EDGE_TRY(WriteCounts(db, r));
  if (!step.events.empty()) {
    EDGE_ASSIGN_OR_RETURN(auto ev, db.Prepare(
        "INSERT INTO rollout_events(rollout_id, at, kind, device_id, detail) VALUES (?, ?, ?, ?, ?)"));
    for (const auto& e : step.events) {
      ev.Reset();
      ev.Bind(1, r.id).Bind(2, now).Bind(3, e.kind).Bind(4, e.device).Bind(5, e.detail);
      EDGE_TRY(ev.Run());
    }
    EDGE_ASSIGN_OR_RETURN(auto prune, db.Prepare(
        "DELETE FROM rollout_events WHERE rollout_id = ?1 AND id <= "
        "(SELECT id FROM rollout_events WHERE rollout_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)"));
    prune.Bind(1, r.id).Bind(2, int64_t{kEventsPerRollout});
    EDGE_TRY(prune.Run());
  }
  return changed;
}

Result<std::vector<RolloutEventRecord>> Events(sql::Connection& db, int64_t id, int64_t after_id, uint32_t limit) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
      "SELECT id, rollout_id, at, kind, device_id, detail FROM rollout_events WHERE rollout_id = ? AND id > ? "
      "ORDER BY id LIMIT ?"));
  st.Bind(1, id).Bind(2, after_id).Bind(3, static_cast<int64_t>(limit));
  std::vector<RolloutEventRecord> out;
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Int(0), st.Int(1), st.Int(2), st.Text(3), st.Text(4), st.Text(5)});
  }
  return out;
}

Result<std::vector<FleetDeviceRecord>> Fleet(sql::Connection& db, const std::string& model) {
  return db.Read([&]() -> Result<std::vector<FleetDeviceRecord>> {
    std::vector<FleetDeviceRecord> out;
    std::map<std::string, size_t> index;
    {
      EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
          "SELECT d.id, d.site, d.facts_json, r.version, r.security_version, r.state, r.target_version, r.detail, "
          "r.bytes_done, r.bytes_total, r.security_floor, r.updated_at, dm.version, r.reports "
          "FROM devices d LEFT JOIN reported_models r ON r.device_id = d.id AND r.model = ?1 "
          "LEFT JOIN desired_models dm ON dm.device_id = d.id AND dm.model = ?1 "
          "WHERE d.revoked = 0 ORDER BY d.id"));
      st.Bind(1, model);
      for (;;) {
        EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        FleetDeviceRecord f;
        f.id = st.Text(0);
        f.site = st.Text(1);
        f.facts_json = st.Text(2);
        f.desired_version = st.Text(12);
        if (!st.IsNull(5)) {
          f.reported = ReportedModelRecord{model, st.Text(3), static_cast<uint64_t>(st.Int(4)), st.Text(5), st.Text(6),
                                           st.Text(7), static_cast<uint64_t>(st.Int(8)), static_cast<uint64_t>(st.Int(9)),
                                           static_cast<uint64_t>(st.Int(10)), st.Int(11)};
          f.reported->reports = static_cast<uint64_t>(st.Int(13));
        }
        index[f.id] = out.size();
        out.push_back(std::move(f));
      }
    }
    {
      EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT device_id, key, value FROM device_labels"));
      for (;;) {
        EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        if (auto it = index.find(st.Text(0)); it != index.end()) out[it->second].labels[st.Text(1)] = st.Text(2);
      }
    }
    {
      EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
          "SELECT device_id, version, MAX(received_at) FROM device_events WHERE model = ? "
          "AND outcome IN ('failed', 'rolled_back') GROUP BY device_id, version"));
      st.Bind(1, model);
      for (;;) {
        EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
        if (!row) break;
        if (auto it = index.find(st.Text(0)); it != index.end()) out[it->second].failed_at[st.Text(1)] = st.Int(2);
      }
    }
    return out;
  });
}

}  // namespace edge::controller::sql_rollouts
