// A rollout as plain data (DESIGN §9): what it targets, how it proceeds, where it stands, and the
// state of every device it has taken. No gRPC, no SQLite: the planner reads and returns these,
// the store persists them, the API converts them.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/result.h"

namespace edge::controller::rollout {

// A count of devices, or a percentage of a set (rounded up).
struct Amount {
  bool is_percent = false;
  uint32_t count = 0;
  double percent = 0;  // 0 < percent <= 100

  static Amount Count(uint32_t n) { return {false, n, 0}; }
  static Amount Percent(double p) { return {true, 0, p}; }
  bool IsZero() const { return is_percent ? percent <= 0 : count == 0; }
  // How many of `n` devices: a count is capped at n; a percentage rounds up, so any positive
  // percentage of a non-empty set is at least one device.
  size_t Of(size_t n) const;
  std::string Text() const;  // "3" or "25%"
};
// "3" or "25%" (also "25.5%"). Errors name the text.
Result<Amount> ParseAmount(std::string_view text);

enum class OnFailure { kPause, kAbort, kRevert };
enum class InsufficientTraffic { kPause, kProceed };

struct Strategy {
  Amount canary = Amount::Count(1);
  bool canary_per_site = false;
  // Cumulative share of the target after each later wave; the last must be 100% (or a count
  // at least as large as the target, which a percentage is safer for).
  std::vector<Amount> waves = {Amount::Percent(25), Amount::Percent(100)};
  uint32_t max_parallel = 0;  // 0 = no limit
  Amount site_budget = Amount::Count(0);  // zero = no limit
  int64_t soak_seconds = 60;
  int64_t device_timeout_seconds = 600;
  double success_threshold = 0.95;
  double failure_threshold = 0.10;
  bool health_gates = true;
  uint32_t min_requests = 50;
  double max_latency_regression = 0.20;
  double max_error_rate_increase = 0.01;
  uint32_t max_restarts = 2;
  int64_t health_timeout_seconds = 600;
  OnFailure on_failure = OnFailure::kRevert;
  InsufficientTraffic insufficient_traffic = InsufficientTraffic::kPause;
};

// One wave of 100%: no canary, no soak, no health gates; a failed install pauses.
Strategy AllAtOnce();
// Refuses what cannot work: no waves, a last wave below 100%, thresholds outside 0..1, negative
// times. The message names the field.
Status Validate(const Strategy& strategy);
std::string_view Name(OnFailure v);
std::string_view Name(InsufficientTraffic v);
std::optional<OnFailure> ParseOnFailure(std::string_view text);
std::optional<InsufficientTraffic> ParseInsufficientTraffic(std::string_view text);

// Devices that match every part given; at least one part must be given.
struct Target {
  std::vector<std::string> sites;
  std::string selector;  // label selector (see selector.h)
  std::vector<std::string> devices;
  bool Empty() const { return sites.empty() && selector.empty() && devices.empty(); }
};

enum class State {
  kRunning,
  kPaused,     // no new dispatches; devices already dispatched carry on
  kCompleted,  // every wave passed; standing: devices that join the target get the version
  kAborted,    // stopped; devices keep what they run
  kReverting,  // aborted, and the devices it moved are going back to what they ran before
  kReverted,   // every device it moved is back (or could not be, see each device)
};
std::string_view Name(State s);
std::optional<State> ParseState(std::string_view text);
// Running, paused and completed rollouts claim devices; the others are history.
inline bool IsLive(State s) { return s == State::kRunning || s == State::kPaused || s == State::kCompleted; }

enum class DeviceState {
  kPending,       // in the target, not dispatched yet (wave -1: not assigned to a wave yet)
  kDispatched,    // its desired version was set; waiting for the outcome
  kUpdated,       // runs the version, committed
  kFailed,        // reported failed or rolled back for the version: not retried by this rollout
  kTimedOut,      // no outcome within the device timeout (its desired version stays set)
  kSkipped,       // cannot take the version (detail says why); never dispatched
  kReverting,     // sent back to from_version
  kReverted,      // runs from_version again
  kRevertFailed,  // could not go back (detail says why)
  kSuperseded,    // a newer rollout of the same model took the device
};
std::string_view Name(DeviceState s);
std::optional<DeviceState> ParseDeviceState(std::string_view text);

// A model's numbers on one device, as its health reports give them: counters and the latency
// histogram since that version was loaded there.
struct HealthSample {
  std::string version;
  uint64_t inferences = 0;
  uint64_t errors = 0;
  std::vector<uint64_t> latency_bucket_upper_us;
  std::vector<uint64_t> latency_counts;  // one per bound, plus optionally an overflow count
  std::string last_selftest;
  int64_t last_selftest_at = 0;
};

struct DeviceRow {
  std::string id;
  std::string site;
  DeviceState state = DeviceState::kPending;
  int32_t wave = -1;
  std::string from_version;  // its active version when dispatched ("" = none)
  int64_t dispatched_at = 0;
  int64_t done_at = 0;       // when it reached its current done state
  uint32_t dispatches = 0;   // times its desired version was set by this rollout (1 per direction)
  // The incumbent's (from_version's) numbers on this device when it was dispatched: the health
  // gate's reference. Filled by the store from the device's latest health report, and read back
  // only for the current wave of a running rollout (the only rows a gate judges).
  std::optional<HealthSample> baseline;
  std::string detail;
  bool dirty = false;  // changed by the planner: to be written
};

// How many of a rollout's device rows are in one wave and state, and how many of those its
// rollout dispatched at least once. The store keeps these beside the rollout (rollout_counts), so
// listing rollouts and skipping finished ones in the planner's tick need not read every row.
struct RowCount {
  int32_t wave = -1;
  DeviceState state = DeviceState::kPending;
  uint32_t devices = 0;
  uint32_t dispatched = 0;
};
// The rows counted by (wave, state), in that order.
std::vector<RowCount> CountRows(const std::vector<DeviceRow>& rows);

struct Wave {
  int64_t started_at = 0;
  int64_t completed_at = 0;  // every device of the wave done
  std::string gate;          // verdict text; "" = not judged yet
};

struct Rollout {
  int64_t id = 0;
  std::string model;
  std::string version;
  uint64_t security_version = 0;
  Target target;
  Strategy strategy;
  State state = State::kRunning;
  uint32_t wave = 0;         // the current wave: 0 = canary, then 1..strategy.waves.size()
  std::vector<Wave> waves;   // one per wave started so far
  std::string reason;        // why paused, aborted or reverted
  bool override_gate = false;  // set by resume after a failed gate: the gate counts as passed
  std::string created_by;
  int64_t created_at = 0;
  int64_t updated_at = 0;
  // Bumped by each saved step: a step is saved only over the revision it was planned from.
  int64_t revision = 0;
  // The device rows: loaded with the rollout, except where the store says it left them out
  // (`rows_loaded` false); `counts` is always there.
  std::vector<DeviceRow> devices;
  bool rows_loaded = true;
  std::vector<RowCount> counts;

  // Device rows in all (from `counts`).
  uint32_t DeviceTotal() const;
  // Whether no row can change again without a newly claimed device: a completed rollout whose
  // rows are all superseded, skipped or past a revert (so a tick with no device claimed by it
  // has nothing to do).
  bool Dormant() const;

  // Waves in total: the canary plus every later wave (1 when all at once).
  uint32_t WaveCount() const;
};

}  // namespace edge::controller::rollout
