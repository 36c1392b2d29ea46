// Several stateless controllers on one PostgreSQL database (docs/operations.md#several-controllers).
//
// Each controller process has an id of its own and a row in `controllers`, renewed by a
// heartbeat. Agents connect to any controller; which one holds a device's stream is a row in
// `sessions`, so every controller (the planner above all) knows which devices are online. What
// the agents of other controllers must hear of goes through the change feed (`fleet_changes`,
// written by the store in the transaction that made the change): each controller reads the
// entries after its cursor, woken by PostgreSQL's LISTEN/NOTIFY and in any case every couple of
// seconds, and acts on those others wrote: a device's new desired state is sent to it, a new
// trust policy is served and sent to every agent, a revoked device's stream is ended.
//
// One controller at a time runs the rollout planner: the holder of the planner lease, taken
// when it is free or expired and renewed with each heartbeat. A planner that dies (or loses
// the database) stops renewing, and another takes over once the lease expires; a step is saved
// only over the rollout revision it was planned from, so two planners can never both dispatch.
//
// Strand only, except where said.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/sql/postgres_connection.h"
#include "controller/store/store.h"

namespace edge::controller {

struct ControllerContext;

// Which change-feed entries a controller has handled. Entries get their seq when written but
// become visible at commit, so one can appear below entries already read: a seq skipped over is
// a gap, read again until it shows up or `hold` has passed (its transaction rolled back).
class ChangeCursor {
 public:
  using Clock = std::chrono::steady_clock;
  ChangeCursor(int64_t start, Clock::duration hold) : high_(start), hold_(hold) {}

  // Read the entries after this...
  int64_t high() const { return high_; }
  // ...and, while there are gaps, the entries after this (the lowest gap - 1).
  std::optional<int64_t> below_gaps() const {
    return gaps_.empty() ? std::nullopt : std::optional<int64_t>(gaps_.begin()->first - 1);
  }
  // The entries of `read` not handled before, in seq order; they count as handled from now.
  std::vector<FleetChange> Take(const std::vector<FleetChange>& read, Clock::time_point now);
  size_t gaps() const { return gaps_.size(); }

 private:
  int64_t high_;
  Clock::duration hold_;
  std::map<int64_t, Clock::time_point> gaps_;  // seq -> when it was first skipped
};

struct ClusterOptions {
  ControllerRecord self;  // id, host, endpoints, started_at
  ClusterTimes times;
  std::chrono::milliseconds heartbeat_every{2000};
  std::chrono::milliseconds poll_every{2000};   // the change feed, whatever LISTEN says
  std::string listen_url;                        // PostgreSQL URL for LISTEN; empty: poll only
};

class Cluster {
 public:
  Cluster(ControllerContext& ctx, ClusterOptions options);
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  ~Cluster();

  // First heartbeat (an error if the database cannot take it), then the timers and the listener.
  // The endpoints (host:port) are what its row says its listeners are.
  Status Start(const std::string& agent_endpoint, const std::string& operator_endpoint);
  // Timers and listener off; leaves the cluster (frees the lease, drops its sessions).
  void Stop();

  const std::string& id() const { return options_.self.id; }
  // Whether this controller holds the planner lease now (with a margin for clock skew and the
  // next renewal: it stops planning before another could take over).
  bool planner() const;
  // Whether another live controller holds the device's stream (read at most once a second; a
  // database error reads as "no" and is logged).
  bool ConnectedElsewhere(const std::string& device_id);
  // Reads the change feed and acts on what other controllers wrote.
  void Poll();
  // Renews the heartbeat and the lease.
  void Beat();

 private:
  void Act(const std::vector<FleetChange>& changes);
  void ArmBeat();
  void ArmPoll();
  void Listen();
  void WaitForNotify();

  ControllerContext& ctx_;
  ClusterOptions options_;
  ChangeCursor cursor_{0, std::chrono::seconds(30)};
  PlannerLease lease_;
  bool stopped_ = false;
  boost::asio::steady_timer beat_timer_;
  boost::asio::steady_timer poll_timer_;
  std::unique_ptr<sql::PostgresListener> listener_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> listen_fd_;
  std::set<std::string> elsewhere_;
  std::chrono::steady_clock::time_point elsewhere_at_{};
};

}  // namespace edge::controller
