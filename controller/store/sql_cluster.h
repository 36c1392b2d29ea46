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
// The device's stream `stream` is now held by `controller` (a hello), or no longer (its end:
// only if that stream is still the device's).
Status OpenSession(sql::Connection& db, const std::string& device, const std::string& controller, uint64_t stream,
                   int64_t now);
Status CloseSession(sql::Connection& db, const std::string& device, const std::string& controller, uint64_t stream);

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
