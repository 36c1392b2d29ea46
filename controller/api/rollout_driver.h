// The rollout driver: the thin adapter around the pure planner (controller/rollout/). On the
// strand, it gathers what the planner needs (the live rollouts, the fleet's reports for each
// model, which device each rollout claims), runs one planning step per rollout, persists each
// step in one transaction (state and dispatches together: a controller killed at any point
// neither loses a wave nor dispatches twice) and sends the devices their new desired state.
//
// With several controllers only the planner-lease holder ticks (Planning()); a rollout another
// controller created or controlled reaches it through the change feed.
//
// Ticks: once a second (timeouts, soak ends), soon after a report from a device a rollout is
// waiting on, and at once after a rollout is created or controlled. A tick reads the whole fleet
// (50-140 ms at 10,000 devices) and the device rows of each live rollout that can move; a
// completed rollout whose rows are all superseded or skipped (a newer rollout took its devices)
// is read whole only when it claims a device again. The "soon" ticks that reports cause are
// spaced so that they take at most a fifth of the strand (SoonTickDelay), and operators' calls
// waiting when a tick starts run first (UrgentLane).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <boost/asio/steady_timer.hpp>

#include "controller/rollout/planner.h"
#include "controller/rollout/selector.h"
#include "controller/store/store.h"

namespace edge::controller {

struct ControllerContext;

// Which devices of the fleet a target matches. Unknown sites or devices named in the target
// simply match nothing (the API checks them when a rollout is created).
bool TargetMatches(const rollout::Target& target, const rollout::Selector& selector, const FleetDeviceRecord& device);

// Why a bundle's compat section excludes a device ("" = it does not), from the device's facts.
std::string CompatProblem(const std::string& manifest_arch, const std::string& facts_json);

// How long a "soon" tick waits, given how long ago the last tick ended and what it cost: at
// least `soon`, and at least 4x the last tick's cost after its end.
std::chrono::steady_clock::duration SoonTickDelay(std::chrono::steady_clock::duration since_last_end,
                                                  std::chrono::steady_clock::duration last_cost,
                                                  std::chrono::steady_clock::duration soon);

class RolloutDriver {
 public:
  explicit RolloutDriver(ControllerContext& ctx);
  RolloutDriver(const RolloutDriver&) = delete;
  RolloutDriver& operator=(const RolloutDriver&) = delete;

  // Starts the once-a-second tick (strand).
  void Start();
  void Stop();

  // Strand only. Creates the rollout (already validated by the caller) and runs its first
  // step at once, so the canary is dispatched before the call returns. Refuses a target that
  // matches no device unless `allow_empty`.
  Result<rollout::Rollout> Create(rollout::Rollout rollout, bool allow_empty);
  // Strand only. Pause, resume, abort (with or without revert), then one step at once.
  Result<rollout::Rollout> Control(int64_t id, rollout::Control control, const std::string& reason,
                                   const std::string& actor);
  // Any thread-affine caller on the strand: a device reported, connected, enrolled or was
  // relabelled. Schedules a tick soon if a rollout waits on it (or always, with `membership`).
  void Poke(const std::string& device_id, bool membership = false);

  // Plans every live rollout once (strand). Public for tests and the benchmark.
  Status Tick();
  // Whether this controller plans: always alone; with several, while it holds the planner
  // lease (controller/api/cluster.h). The others only store what operators ask.
  bool Planning() const;

 private:
  // What the health gate knows of a device: its model's latest health and its restarts since
  // `since` (the dispatch).
  struct GateHealth {
    uint64_t reports = 0;  // the device's reported row's report count then
    int64_t since = 0;
    std::optional<rollout::HealthSample> health;
    uint32_t restarts = 0;
  };
  Status PlanModel(const std::string& model, std::vector<rollout::Rollout>& rollouts);
  // Read from the store (two queries, a history of JSON samples) only if the device reported
  // or was dispatched since the last tick read it: a wave soaking for a minute is judged every
  // tick, and its devices report every few seconds.
  const GateHealth& GateHealthOf(const std::string& model, const FleetDeviceRecord& device, int64_t since);
  Status TimedTick();  // Tick, remembering when it ended and what it cost
  void Schedule(std::chrono::milliseconds delay);

  ControllerContext& ctx_;
  std::unique_ptr<boost::asio::steady_timer> periodic_;
  std::unique_ptr<boost::asio::steady_timer> soon_;
  bool soon_pending_ = false;
  bool stopped_ = false;
  std::chrono::steady_clock::time_point last_tick_end_{};
  std::chrono::steady_clock::duration last_tick_cost_{};
  std::set<std::string> watched_;  // devices whose report can move a rollout on
  // By model and device: what the last tick read, and what this one did (kept for the next).
  std::map<std::string, GateHealth> gate_health_, gate_health_next_;
};

}  // namespace edge::controller
