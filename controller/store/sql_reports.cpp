#include "controller/store/sql_reports.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <utility>

#include "common/sql/row_batch.h"
#include "controller/store/health_json.h"
#include "controller/store/sql_cluster.h"

namespace edge::controller::sql_reports {
namespace {

// The reports a group writes, in their order.
using Group = std::vector<const AgentReport*>;

// The positions of the last item of each key, in order: a table whose later write of a key
// replaces the earlier (an upsert, a column set) gets each key once, as written last, so one
// statement can write them all (PostgreSQL refuses to upsert one row twice in a statement).
template <typename Key>
std::vector<size_t> LastOfEach(const std::vector<Key>& keys) {
  std::map<Key, size_t> last;
  for (size_t i = 0; i < keys.size(); ++i) last[keys[i]] = i;
  std::vector<size_t> out;
  for (const auto& entry : last) out.push_back(entry.second);
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> Distinct(const std::vector<std::string>& ids) {
  std::vector<std::string> out;
  for (size_t i : LastOfEach(ids)) out.push_back(ids[i]);
  return out;
}

sql::Rows DeviceRows(const std::vector<std::string>& devices) {
  return {devices.size(), 1, [&devices](sql::Statement& st, size_t i, int at) { st.Bind(at, devices[i]); }};
}

// Deletes all but each device's newest `keep` rows (by `column`) of `table`. The bound is
// found once per device (a materialized CTE), not once per row. `table` and `column` are
// this file's constants, never input.
Status KeepNewest(sql::Connection& db, std::string_view table, std::string_view column, uint32_t keep,
                  const std::vector<std::string>& devices) {
  const std::string t(table), c(column);
  const std::string sql =
      "WITH cut AS MATERIALIZED (SELECT v.column1 AS device_id, (SELECT o." + c + " FROM " + t +
      " o WHERE o.device_id = v.column1 ORDER BY o." + c + " DESC LIMIT 1 OFFSET ?1) AS bound FROM (VALUES {rows}) AS v) "
      "DELETE FROM " + t + " WHERE (device_id, " + c + ") IN (SELECT d.device_id, d." + c + " FROM cut JOIN " + t +
      " d ON d.device_id = cut.device_id AND d." + c + " <= cut.bound)";
  return sql::RunForRows(db, sql, DeviceRows(devices), 1,
                         [keep](sql::Statement& st) { st.Bind(1, static_cast<int64_t>(std::max<uint32_t>(keep, 1))); });
}

// The models each device reported before (for the per-device limit), for the devices of
// `reports` that report models.
Result<std::map<std::string, std::set<std::string>>> KnownModels(sql::Connection& db,
                                                                 std::span<const AgentReport> reports) {
  std::vector<std::string> ids;
  for (const auto& r : reports)
    if (!r.disconnected && !r.models.empty()) ids.push_back(r.device_id);
  const auto devices = Distinct(ids);
  std::map<std::string, std::set<std::string>> known;
  EDGE_TRY(sql::RunForRows(db, "SELECT device_id, model FROM reported_models WHERE device_id IN (VALUES {rows})",
                           DeviceRows(devices), 0, {},
                           [&](const sql::Statement& st) { known[st.Text(0)].insert(st.Text(1)); }));
  return known;
}

Status CheckEvents(const std::vector<UpdateEventRecord>& events) {
  for (const auto& e : events)
    if (e.seq == 0 || e.seq > static_cast<uint64_t>(INT64_MAX))
      return Fail(ErrorCode::kInvalidArgument, "event seq " + std::to_string(e.seq) + " is out of range");
  return Ok();
}

// Why the store refuses `r` (Ok: it stores it), given the models its device has reported so
// far; a report that is stored adds its models to them.
Status Check(const AgentReport& r, std::set<std::string>& models) {
  if (r.disconnected) return Ok();
  std::set<std::string> after = models;
  for (const auto& m : r.models) after.insert(m.model);
  if (after.size() > kMaxReportedModelsPerDevice)
    return Fail(ErrorCode::kResourceExhausted, "device " + r.device_id + " would report " + std::to_string(after.size()) +
                                                   " models, at most " + std::to_string(kMaxReportedModelsPerDevice));
  EDGE_TRY(CheckEvents(r.events));
  models = std::move(after);
  return Ok();
}

// A session row per hello (the device's last), and the ends. Ends are written first; the
// caller sees to it that no device's stream ends after a hello of it in the group.
Status WriteSessions(sql::Connection& db, const std::string& cluster_id, const Group& group) {
  if (cluster_id.empty()) return Ok();
  std::vector<sql_cluster::SessionRow> hellos, ends;
  std::vector<std::string> hello_devices;
  for (const auto* r : group) {
    if (r->disconnected) {
      ends.push_back({r->device_id, r->stream, r->now});
    } else if (r->agent_version) {
      hellos.push_back({r->device_id, r->stream, r->now});
      hello_devices.push_back(r->device_id);
    }
  }
  std::vector<sql_cluster::SessionRow> opened;
  for (size_t i : LastOfEach(hello_devices)) opened.push_back(hellos[i]);
  EDGE_TRY(sql_cluster::CloseSessions(db, cluster_id, ends));
  return sql_cluster::OpenSessions(db, cluster_id, opened);
}

// last_seen from each device's last report, agent_version from its last hello.
Status WriteSeen(sql::Connection& db, const Group& group) {
  struct Seen {
    std::string id;
    int64_t now = 0;
    bool hello = false;
    std::string agent_version;
  };
  std::map<std::string, Seen> by_device;
  for (const auto* r : group) {
    if (r->disconnected) continue;
    auto& s = by_device[r->device_id];
    s.id = r->device_id;
    s.now = r->now;
    if (r->agent_version) {
      s.hello = true;
      s.agent_version = *r->agent_version;
    }
  }
  std::vector<Seen> rows;
  for (auto& entry : by_device) rows.push_back(std::move(entry.second));
  return sql::RunForRows(
      db,
      "UPDATE devices SET last_seen = v.column2, "
      "agent_version = CASE WHEN v.column3 = 1 THEN v.column4 ELSE devices.agent_version END "
      "FROM (VALUES {rows}) AS v WHERE devices.id = v.column1",
      {rows.size(), 4, [&](sql::Statement& st, size_t i, int at) {
         st.Bind(at, rows[i].id).Bind(at + 1, rows[i].now).Bind(at + 2, int64_t{rows[i].hello ? 1 : 0})
             .Bind(at + 3, rows[i].agent_version);
       }});
}

Status WriteModels(sql::Connection& db, const Group& group) {
  struct Row {
    const AgentReport* report;
    const ReportedModelRecord* model;
  };
  std::vector<Row> all;
  std::vector<std::pair<std::string, std::string>> keys;
  for (const auto* r : group) {
    if (r->disconnected) continue;
    for (const auto& m : r->models) {
      all.push_back({r, &m});
      keys.emplace_back(r->device_id, m.model);
    }
  }
  std::vector<Row> rows;
  for (size_t i : LastOfEach(keys)) rows.push_back(all[i]);
  return sql::RunForRows(
      db,
      "INSERT INTO reported_models(device_id, model, version, security_version, state, target_version, detail, "
      "bytes_done, bytes_total, security_floor, updated_at, reports) VALUES {rows} "
      "ON CONFLICT(device_id, model) DO UPDATE SET version=excluded.version, security_version=excluded.security_version, "
      "state=excluded.state, target_version=excluded.target_version, detail=excluded.detail, bytes_done=excluded.bytes_done, "
      "bytes_total=excluded.bytes_total, security_floor=excluded.security_floor, updated_at=excluded.updated_at, "
      "reports=reported_models.reports + 1",
      {rows.size(), 12, [&](sql::Statement& st, size_t i, int at) {
         const auto& m = *rows[i].model;
         st.Bind(at, rows[i].report->device_id).Bind(at + 1, m.model).Bind(at + 2, m.version)
             .Bind(at + 3, static_cast<int64_t>(m.security_version)).Bind(at + 4, m.state).Bind(at + 5, m.target_version)
             .Bind(at + 6, m.detail).Bind(at + 7, static_cast<int64_t>(m.bytes_done))
             .Bind(at + 8, static_cast<int64_t>(m.bytes_total)).Bind(at + 9, static_cast<int64_t>(m.security_floor))
             .Bind(at + 10, rows[i].report->now).Bind(at + 11, int64_t{1});
       }});
}

// The latest health per device, a history sample per report, the history pruned.
Status WriteHealth(sql::Connection& db, const StoreOptions& options, const Group& group) {
  std::vector<const AgentReport*> all;
  std::vector<std::string> ids;
  for (const auto* r : group) {
    if (r->disconnected || !r->health) continue;
    all.push_back(r);
    ids.push_back(r->device_id);
  }
  std::vector<const AgentReport*> latest;
  for (size_t i : LastOfEach(ids)) latest.push_back(all[i]);
  auto bind = [](const std::vector<const AgentReport*>& rows, bool sample) {
    return [&rows, sample](sql::Statement& st, size_t i, int at) {
      const auto& h = *rows[i]->health;
      st.Bind(at, rows[i]->device_id).Bind(at + 1, h.received_at).Bind(at + 2, HealthToJson(sample ? HistorySample(h) : h));
    };
  };
  EDGE_TRY(sql::RunForRows(
      db,
      "INSERT INTO device_health(device_id, received_at, health_json) VALUES {rows} "
      "ON CONFLICT(device_id) DO UPDATE SET received_at = excluded.received_at, health_json = excluded.health_json",
      {latest.size(), 3, bind(latest, false)}));
  EDGE_TRY(sql::RunForRows(db, "INSERT INTO device_health_history(device_id, received_at, sample_json) VALUES {rows}",
                           {all.size(), 3, bind(all, true)}));
  return KeepNewest(db, "device_health_history", "id", options.health_history_limit, Distinct(ids));
}

// The highest seq stored for each of `devices` (that has any).
Result<std::map<std::string, uint64_t>> MaxSeqs(sql::Connection& db, const std::vector<std::string>& devices) {
  std::map<std::string, uint64_t> out;
  EDGE_TRY(sql::RunForRows(db,
                           "SELECT device_id, max(seq) FROM device_events WHERE device_id IN (VALUES {rows}) "
                           "GROUP BY device_id",
                           DeviceRows(devices), 0, {},
                           [&](const sql::Statement& st) { out[st.Text(0)] = static_cast<uint64_t>(st.Int(1)); }));
  return out;
}

// The events of each report, the first copy of a (device, seq) winning (a re-send after a lost
// ack changes nothing); what each report's events came to, for those that carried any. The
// caller sees to it that at most one report per device in the group carries events.
Result<std::vector<std::optional<EventsRecorded>>> WriteEvents(sql::Connection& db, const StoreOptions& options,
                                                               const Group& group) {
  struct Row {
    const AgentReport* report;
    const UpdateEventRecord* event;
  };
  std::vector<Row> rows;
  std::vector<std::string> ids;
  for (const auto* r : group) {
    if (r->disconnected || r->events.empty()) continue;
    ids.push_back(r->device_id);
    for (const auto& e : r->events) rows.push_back({r, &e});
  }
  std::set<std::pair<std::string, uint64_t>> inserted;
  EDGE_TRY(sql::RunForRows(
      db,
      "INSERT INTO device_events(device_id, seq, model, version, outcome, reason, unix_time, offline_install, "
      "received_at) VALUES {rows} ON CONFLICT(device_id, seq) DO NOTHING RETURNING device_id, seq",
      {rows.size(), 9,
       [&](sql::Statement& st, size_t i, int at) {
         const auto& e = *rows[i].event;
         st.Bind(at, rows[i].report->device_id).Bind(at + 1, static_cast<int64_t>(e.seq)).Bind(at + 2, e.model)
             .Bind(at + 3, e.version).Bind(at + 4, e.outcome).Bind(at + 5, e.reason).Bind(at + 6, e.unix_time)
             .Bind(at + 7, int64_t{e.offline_install ? 1 : 0}).Bind(at + 8, rows[i].report->now);
       }},
      0, {}, [&](const sql::Statement& st) { inserted.emplace(st.Text(0), static_cast<uint64_t>(st.Int(1))); }));
  const auto devices = Distinct(ids);
  EDGE_ASSIGN_OR_RETURN(auto max, MaxSeqs(db, devices));
  // Keep the newest N events (by seq): a device cannot grow the table without bound.
  EDGE_TRY(KeepNewest(db, "device_events", "seq", options.events_per_device, devices));
  std::vector<std::optional<EventsRecorded>> out(group.size());
  for (size_t k = 0; k < group.size(); ++k) {
    const auto& r = *group[k];
    if (r.disconnected || r.events.empty()) continue;
    EventsRecorded recorded;
    for (const auto& e : r.events) {
      if (inserted.erase({r.device_id, e.seq})) ++recorded.inserted;
      else ++recorded.duplicates;
    }
    recorded.max_seq = max[r.device_id];
    out[k] = recorded;
  }
  return out;
}

// Checks and writes `reports` as one group: each table once for all of them. A report the
// checks refuse is left out, with its reason; the others are stored. Fails as a whole when a
// statement fails (a constraint: a device that does not exist, a value a column refuses;
// which report caused it the statement does not say).
Result<std::vector<AgentReportOutcome>> StoreGroup(sql::Connection& db, const StoreOptions& options,
                                                   std::span<const AgentReport> reports) {
  std::vector<AgentReportOutcome> out(reports.size());
  EDGE_ASSIGN_OR_RETURN(auto known, KnownModels(db, reports));
  Group group;
  std::vector<size_t> positions;
  for (size_t i = 0; i < reports.size(); ++i) {
    out[i].status = Check(reports[i], known[reports[i].device_id]);
    if (!out[i].status) continue;
    group.push_back(&reports[i]);
    positions.push_back(i);
  }
  EDGE_TRY(WriteSessions(db, options.cluster_id, group));
  EDGE_TRY(WriteSeen(db, group));
  EDGE_TRY(WriteModels(db, group));
  EDGE_TRY(WriteHealth(db, options, group));
  EDGE_ASSIGN_OR_RETURN(auto events, WriteEvents(db, options, group));
  for (size_t k = 0; k < group.size(); ++k) out[positions[k]].events = events[k];
  return out;
}

// Whether writing the batch as one group gives what writing it report by report gives. A
// group writes each table once, the later of a device's rows winning; that differs only where
// one report of a device depends on another's order: a stream end after a hello of the same
// device (the group ends sessions before it opens them), and a second report with events (the
// counts and pruning are per report).
bool FitsOneGroup(const std::vector<AgentReport>& reports) {
  std::set<std::string> hellos, with_events;
  for (const auto& r : reports) {
    if (r.disconnected) {
      if (hellos.count(r.device_id)) return false;
      continue;
    }
    if (r.agent_version) hellos.insert(r.device_id);
    if (!r.events.empty() && !with_events.insert(r.device_id).second) return false;
  }
  return true;
}

}  // namespace

Result<std::vector<AgentReportOutcome>> RecordBatch(sql::Connection& db, const StoreOptions& options,
                                                    const std::vector<AgentReport>& reports) {
  // The whole batch as one group, in a savepoint: the usual case, a few statements in all.
  if (FitsOneGroup(reports)) {
    EDGE_TRY(db.Exec("SAVEPOINT batch"));
    auto stored = StoreGroup(db, options, reports);
    if (!stored && stored.error().code == ErrorCode::kUnavailable) return Fail(stored.error());
    if (stored) {
      EDGE_TRY(db.Exec("RELEASE batch"));
      return stored;
    }
    EDGE_TRY(db.Exec("ROLLBACK TO batch"));
    EDGE_TRY(db.Exec("RELEASE batch"));
  }
  // Report by report, each in its own savepoint: a report a statement refuses is undone alone.
  std::vector<AgentReportOutcome> out(reports.size());
  for (size_t i = 0; i < reports.size(); ++i) {
    EDGE_TRY(db.Exec("SAVEPOINT report"));
    auto stored = StoreGroup(db, options, std::span(&reports[i], 1));
    // A conflict with another controller's write, or a lost connection, is not this report's
    // fault: the batch fails as a whole (and Write runs it again after a conflict).
    if (!stored && stored.error().code == ErrorCode::kUnavailable) return Fail(stored.error());
    if (stored) {
      out[i] = std::move(stored->front());
    } else {
      out[i] = {Fail(stored.error()), std::nullopt};
      EDGE_TRY(db.Exec("ROLLBACK TO report"));
    }
    EDGE_TRY(db.Exec("RELEASE report"));
  }
  return out;
}

Status RecordHello(sql::Connection& db, const std::string& id, const std::string& agent_version, int64_t now) {
  AgentReport hello;
  hello.device_id = id;
  hello.now = now;
  hello.agent_version = agent_version;
  return WriteSeen(db, {&hello});
}

Status RecordModels(sql::Connection& db, const std::string& id, const std::vector<ReportedModelRecord>& models,
                    int64_t now) {
  AgentReport report;
  report.device_id = id;
  report.now = now;
  report.models = models;
  // Models only: no option (health history, events, sessions) applies to it.
  EDGE_ASSIGN_OR_RETURN(auto stored, StoreGroup(db, StoreOptions{}, std::span(&report, 1)));
  return stored.front().status;
}

Status RecordHealth(sql::Connection& db, const StoreOptions& options, const std::string& id, const HealthRecord& h) {
  AgentReport report;
  report.device_id = id;
  report.health = h;
  return WriteHealth(db, options, {&report});
}

Result<EventsRecorded> RecordEvents(sql::Connection& db, const StoreOptions& options, const std::string& id,
                                    const std::vector<UpdateEventRecord>& events, int64_t now) {
  EDGE_TRY(CheckEvents(events));
  if (events.empty()) {
    EDGE_ASSIGN_OR_RETURN(auto max, MaxSeqs(db, {id}));
    return EventsRecorded{0, 0, max[id]};
  }
  AgentReport report;
  report.device_id = id;
  report.now = now;
  report.events = events;
  EDGE_ASSIGN_OR_RETURN(auto recorded, WriteEvents(db, options, {&report}));
  return *recorded.front();
}

}  // namespace edge::controller::sql_reports
