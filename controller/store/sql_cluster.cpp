#include "controller/store/sql_cluster.h"

#include "common/sql/row_batch.h"

namespace edge::controller::sql_cluster {

Status RecordChange(sql::Connection& db, const std::string& origin, std::string_view kind, const std::string& subject,
                    int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare("INSERT INTO fleet_changes(kind, subject, origin, at) VALUES (?, ?, ?, ?)"));
  st.Bind(1, kind).Bind(2, subject).Bind(3, origin).Bind(4, now);
  return st.Run();
}

Status OpenSessions(sql::Connection& db, const std::string& controller, const std::vector<SessionRow>& opened) {
  return sql::RunForRows(
      db,
      "INSERT INTO sessions(device_id, controller, stream, since) VALUES {rows} ON CONFLICT(device_id) "
      "DO UPDATE SET controller = excluded.controller, stream = excluded.stream, since = excluded.since",
      {opened.size(), 4, [&](sql::Statement& st, size_t i, int at) {
         st.Bind(at, opened[i].device).Bind(at + 1, controller).Bind(at + 2, static_cast<int64_t>(opened[i].stream))
             .Bind(at + 3, opened[i].since);
       }});
}

Status CloseSessions(sql::Connection& db, const std::string& controller, const std::vector<SessionRow>& closed) {
  return sql::RunForRows(
      db, "DELETE FROM sessions WHERE controller = ?1 AND (device_id, stream) IN (VALUES {rows})",
      {closed.size(), 2, [&](sql::Statement& st, size_t i, int at) {
         st.Bind(at, closed[i].device).Bind(at + 1, static_cast<int64_t>(closed[i].stream));
       }},
      1, [&](sql::Statement& st) { st.Bind(1, controller); });
}

namespace {

Result<PlannerLease> ReadLease(sql::Connection& db) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT holder, epoch, expires_at FROM planner_lease WHERE name = 'rollouts'"));
  EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
  if (!row) return Fail(ErrorCode::kDataLoss, "the planner lease row is missing (schema 008)");
  return PlannerLease{st.Text(0), st.Int(1), st.Int(2)};
}

}  // namespace

Status Forget(sql::Connection& db, const ClusterTimes& times, int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto controllers, db.Prepare("DELETE FROM controllers WHERE heartbeat_at < ?"));
  controllers.Bind(1, now - times.forget_seconds);
  EDGE_TRY(controllers.Run());
  EDGE_ASSIGN_OR_RETURN(auto sessions, db.Prepare("DELETE FROM sessions WHERE controller NOT IN (SELECT id FROM controllers)"));
  EDGE_TRY(sessions.Run());
  // The newest entry stays: a controller that comes back after the prune sees from its seq that
  // it missed entries (Cluster::Poll), even when nothing was written since.
  EDGE_ASSIGN_OR_RETURN(auto changes, db.Prepare(
      "DELETE FROM fleet_changes WHERE at < ? AND seq < (SELECT max(seq) FROM fleet_changes)"));
  changes.Bind(1, now - times.forget_seconds);
  return changes.Run();
}

Result<PlannerLease> Heartbeat(sql::Connection& db, const ControllerRecord& self, const ClusterTimes& times, int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto row, db.Prepare(
      "INSERT INTO controllers(id, host, agent_endpoint, operator_endpoint, started_at, heartbeat_at) "
      "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"));
  row.Bind(1, self.id).Bind(2, self.host).Bind(3, self.agent_endpoint).Bind(4, self.operator_endpoint)
      .Bind(5, self.started_at).Bind(6, now);
  EDGE_TRY(row.Run());
  // Renewed by its holder; taken by anyone once free or expired (a takeover bumps the epoch).
  EDGE_ASSIGN_OR_RETURN(auto take, db.Prepare(
      "UPDATE planner_lease SET epoch = epoch + (CASE WHEN holder = ?1 THEN 0 ELSE 1 END), holder = ?1, "
      "expires_at = ?2 WHERE name = 'rollouts' AND (holder = ?1 OR holder = '' OR expires_at <= ?3)"));
  take.Bind(1, self.id).Bind(2, now + times.lease_seconds).Bind(3, now);
  EDGE_TRY(take.Run());
  return ReadLease(db);
}

Status Leave(sql::Connection& db, const std::string& id) {
  EDGE_ASSIGN_OR_RETURN(auto sessions, db.Prepare("DELETE FROM sessions WHERE controller = ?"));
  sessions.Bind(1, id);
  EDGE_TRY(sessions.Run());
  EDGE_ASSIGN_OR_RETURN(auto row, db.Prepare("DELETE FROM controllers WHERE id = ?"));
  row.Bind(1, id);
  EDGE_TRY(row.Run());
  EDGE_ASSIGN_OR_RETURN(auto lease, db.Prepare(
      "UPDATE planner_lease SET holder = '', expires_at = 0 WHERE name = 'rollouts' AND holder = ?"));
  lease.Bind(1, id);
  return lease.Run();
}

Result<std::vector<ControllerRecord>> List(sql::Connection& db) {
  return db.Read([&]() -> Result<std::vector<ControllerRecord>> {
    EDGE_ASSIGN_OR_RETURN(auto lease, ReadLease(db));
    EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
        "SELECT c.id, c.host, c.agent_endpoint, c.operator_endpoint, c.started_at, c.heartbeat_at, "
        "(SELECT count(*) FROM sessions s WHERE s.controller = c.id) FROM controllers c ORDER BY c.started_at DESC, c.id"));
    std::vector<ControllerRecord> out;
    for (;;) {
      EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
      if (!row) break;
      ControllerRecord c{st.Text(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4), st.Int(5),
                         static_cast<uint64_t>(st.Int(6)), false};
      c.planner = c.id == lease.holder;
      out.push_back(std::move(c));
    }
    return out;
  });
}

Result<std::vector<std::string>> OnlineElsewhere(sql::Connection& db, const std::string& self, const ClusterTimes& times,
                                                 int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
      "SELECT s.device_id FROM sessions s JOIN controllers c ON c.id = s.controller "
      "WHERE s.controller <> ? AND c.heartbeat_at >= ? ORDER BY s.device_id"));
  st.Bind(1, self).Bind(2, now - times.stale_seconds);
  std::vector<std::string> out;
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back(st.Text(0));
  }
  return out;
}

Result<int64_t> LastChange(sql::Connection& db) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT coalesce(max(seq), 0) FROM fleet_changes"));
  EDGE_TRY(st.Step());
  return st.Int(0);
}

Result<int64_t> OldestChange(sql::Connection& db) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT coalesce(min(seq), 0) FROM fleet_changes"));
  EDGE_TRY(st.Step());
  return st.Int(0);
}

Result<int> ReconcileSessions(sql::Connection& db, const std::string& controller, const std::set<uint64_t>& live_streams,
                              const std::vector<std::pair<std::string, uint64_t>>& held, int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare("SELECT device_id, stream FROM sessions WHERE controller = ?"));
  st.Bind(1, controller);
  std::set<std::pair<std::string, uint64_t>> rows;
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    rows.emplace(st.Text(0), static_cast<uint64_t>(st.Int(1)));
  }
  std::vector<SessionRow> ended, missing;
  for (const auto& [device, stream] : rows)
    if (!live_streams.count(stream)) ended.push_back({device, stream, 0});
  for (const auto& h : held)
    if (!rows.count(h)) missing.push_back({h.first, h.second, now});
  EDGE_TRY(CloseSessions(db, controller, ended));
  EDGE_TRY(OpenSessions(db, controller, missing));
  return static_cast<int>(ended.size() + missing.size());
}

Result<std::vector<FleetChange>> ChangesSince(sql::Connection& db, int64_t after_seq, uint32_t limit) {
  EDGE_ASSIGN_OR_RETURN(auto st, db.Prepare(
      "SELECT seq, kind, subject, origin, at FROM fleet_changes WHERE seq > ? ORDER BY seq LIMIT ?"));
  st.Bind(1, after_seq).Bind(2, static_cast<int64_t>(limit));
  std::vector<FleetChange> out;
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(bool row, st.Step());
    if (!row) break;
    out.push_back({st.Int(0), st.Text(1), st.Text(2), st.Text(3), st.Int(4)});
  }
  return out;
}

}  // namespace edge::controller::sql_cluster
