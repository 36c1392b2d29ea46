// Several stateless controllers on one PostgreSQL database (docs/operations.md#several-controllers).
//
// Each controller process has an id of its own and a row in `controllers`, renewed by a
// heartbeat. Agents connect to any controller; which one holds a device's stream is a row in
// `sessions`, so every controller (the planner above all) knows which devices are online. What
// the agents of other controllers must hear of goes through the change feed (`fleet_changes`,
// written by the store in the transaction that made the change; entries become visible in seq
// order, see migration 008): each controller reads the entries after its cursor, woken by
// PostgreSQL's LISTEN/NOTIFY and in any case every couple of seconds, and acts on those others
// wrote: a device's new desired state is sent to it, a new trust policy is served and sent to
// every agent, a revoked device's stream is ended. A controller that finds entries it never read
// were pruned (it was cut off for about an hour) resyncs: it sends every agent it holds its
// desired state, adopts the stored trust policy and ends revoked devices' streams.
//
// One controller at a time runs the rollout planner: the holder of the planner lease, taken
// when it is free or expired and renewed with each heartbeat. A planner that dies (or loses
// the database) stops renewing, and another takes over once the lease expires; a step is saved
// only over the rollout revision it was planned from, so two planners can never both dispatch.
//
// A controller that cannot reach the database for `stale_seconds` ends its agents' streams (they
// move to a controller that can), and every 30 s it makes its session rows match the streams it
// holds (a row whose removal failed during an outage goes).
//
// Strand only.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/sql/postgres_connection.h"
#include "controller/store/store.h"

namespace edge::controller {

struct ControllerContext;

struct ClusterOptions {
  ControllerRecord self;  // id, host, started_at (endpoints: Start)
  ClusterTimes times;
  std::chrono::milliseconds heartbeat_every{2000};
  std::chrono::milliseconds poll_every{2000};   // the change feed, whatever LISTEN says
  int reconcile_every_beats = 15;               // session rows checked against the streams held
  std::string listen_url;                        // PostgreSQL URL for LISTEN; empty: poll only
};

class Cluster {
 public:
  Cluster(ControllerContext& ctx, ClusterOptions options);
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;
  ~Cluster();

  // First heartbeat (an error if the database cannot take it), the change feed's cursor, the
  // stored trust policy if newer than the served one, then the timers and the listener. The
  // endpoints (host:port) are what its row says its listeners are.
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
  // Renews the heartbeat and the lease; every few beats, checks the session rows.
  void Beat();
  int64_t cursor() const { return high_; }

 private:
  void Act(const std::vector<FleetChange>& changes);
  void Resync(const std::string& why);
  void ReconcileSessions();
  void ArmBeat();
  void ArmPoll();
  void Listen();
  void WaitForNotify();

  ControllerContext& ctx_;
  ClusterOptions options_;
  int64_t high_ = 0;  // every entry up to this seq is handled
  PlannerLease lease_;
  bool stopped_ = false;
  int beats_ = 0;
  std::chrono::steady_clock::time_point last_beat_ok_{};
  bool dropped_for_outage_ = false;
  std::chrono::steady_clock::time_point last_forget_{};
  boost::asio::steady_timer beat_timer_;
  boost::asio::steady_timer poll_timer_;
  std::unique_ptr<sql::PostgresListener> listener_;
  std::unique_ptr<boost::asio::posix::stream_descriptor> listen_fd_;
  std::set<std::string> elsewhere_;
  std::chrono::steady_clock::time_point elsewhere_at_{};
};

}  // namespace edge::controller
