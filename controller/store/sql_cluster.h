// The store's cluster tables (migration 008: controllers, sessions, planner_lease,
// fleet_changes), on the SQL layer. Internal to the store (sql_store.cpp): its methods call these
// inside their own transactions, and only in cluster mode (StoreOptions::cluster_id).
#pragma once

#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/sql/connection.h"
#include "controller/store/store.h"

namespace edge::controller::sql_cluster {

// One change-feed entry written by `origin`.
Status RecordChange(sql::Connection& db, const std::string& origin, std::string_view kind, const std::string& subject,
                    int64_t now);
// A device's agent stream on this controller: opened by its hello, ended by its disconnect.
struct SessionRow {
  std::string device;
  uint64_t stream = 0;
  int64_t since = 0;
};
// These devices' streams are now held by `controller` (hellos; one row per device), or no
// longer (their ends: a device's row goes only if that stream is still the device's).
Status OpenSessions(sql::Connection& db, const std::string& controller, const std::vector<SessionRow>& opened);
Status CloseSessions(sql::Connection& db, const std::string& controller, const std::vector<SessionRow>& closed);

Result<PlannerLease> Heartbeat(sql::Connection& db, const ControllerRecord& self, const ClusterTimes& times, int64_t now);
Status Forget(sql::Connection& db, const ClusterTimes& times, int64_t now);
Status Leave(sql::Connection& db, const std::string& id);
Result<std::vector<ControllerRecord>> List(sql::Connection& db);
Result<std::vector<std::string>> OnlineElsewhere(sql::Connection& db, const std::string& self, const ClusterTimes& times,
                                                 int64_t now);
Result<int64_t> LastChange(sql::Connection& db);
Result<int64_t> OldestChange(sql::Connection& db);
Result<int> ReconcileSessions(sql::Connection& db, const std::string& controller, const std::set<uint64_t>& live_streams,
                              const std::vector<std::pair<std::string, uint64_t>>& held, int64_t now);
Result<std::vector<FleetChange>> ChangesSince(sql::Connection& db, int64_t after_seq, uint32_t limit);

}  // namespace edge::controller::sql_cluster
