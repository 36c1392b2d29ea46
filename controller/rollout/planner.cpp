#include "controller/rollout/planner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "common/core/histogram.h"

namespace edge::controller::rollout {
namespace {

using DS = DeviceState;

bool Settled(const std::string& agent_state) {
  return agent_state == "idle" || agent_state == "committed" || agent_state == "rolled_back" || agent_state == "failed";
}
bool Runs(const Observed& o, const std::string& version) {
  return o.active_version == version && (o.state == "committed" || o.state == "idle");
}
bool FailedOn(const Observed& o, const std::string& version) {
  return ((o.state == "failed" || o.state == "rolled_back") && o.target_version == version);
}
// A failure of the version reported at or after `since` (a dispatch, the rollout's creation).
bool FailedSince(const Observed& o, const std::string& version, int64_t since) {
  auto it = o.failed_at.find(version);
  return it != o.failed_at.end() && it->second >= since;
}
// Done for the wave: nothing more is expected of the device.
bool Done(DS s) { return s == DS::kUpdated || s == DS::kFailed || s == DS::kTimedOut || s == DS::kSkipped || s == DS::kSuperseded; }
bool InFlight(DS s) { return s == DS::kDispatched || s == DS::kReverting; }

std::string Percent(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", ratio * 100);
  return buf;
}
std::string Micros(double us) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f µs", us);
  return buf;
}
std::string Duration(int64_t s) {
  if (s % 3600 == 0 && s >= 3600) return std::to_string(s / 3600) + "h";
  if (s % 60 == 0 && s >= 60) return std::to_string(s / 60) + "m";
  return std::to_string(s) + "s";
}

// Merges `counts` into `into` when the bucket bounds agree (the agent's buckets are fixed).
void Merge(std::vector<uint64_t>& bounds, std::vector<uint64_t>& into, const HealthSample& h) {
  if (h.latency_counts.empty()) return;
  if (into.empty()) {
    bounds = h.latency_bucket_upper_us;
    into = h.latency_counts;
    return;
  }
  if (bounds != h.latency_bucket_upper_us || into.size() != h.latency_counts.size()) return;
  for (size_t i = 0; i < into.size(); ++i) into[i] += h.latency_counts[i];
}

struct Verdict {
  enum Kind { kWait, kPass, kFail } kind = kWait;
  std::string text;
};

class Planner {
 public:
  Planner(const Rollout& rollout, const Inputs& in) : in_(in) {
    step_.rollout = rollout;
    for (const auto& o : in.devices) observed_[o.id] = &o;
  }

  Step Run() {
    Rollout& r = step_.rollout;
    if (r.state == State::kAborted || r.state == State::kReverted) return Finish();
    Membership();
    for (auto& row : r.devices) Observe(row);
    // A few passes: a passed gate starts the next wave, a failed one may start a revert.
    for (int pass = 0; pass < 2 + static_cast<int>(r.WaveCount()); ++pass) {
      const State before = r.state;
      const uint32_t wave = r.wave;
      if (r.state == State::kRunning) RunWave();
      else if (r.state == State::kCompleted) DispatchPending(r.WaveCount() - 1, true);
      if (r.state == State::kReverting) Revert();
      if (r.state == before && r.wave == wave) break;
    }
    return Finish();
  }

 private:
  Step Finish() {
    for (const auto& row : step_.rollout.devices) step_.changed = step_.changed || row.dirty;
    step_.changed = step_.changed || !step_.events.empty() || !step_.dispatches.empty();
    if (step_.changed) step_.rollout.updated_at = in_.now;
    return std::move(step_);
  }

  void Note(const std::string& kind, const std::string& device, const std::string& detail) {
    step_.events.push_back({kind, device, detail});
  }

  void Set(DeviceRow& row, DS state, const std::string& detail, const char* kind) {
    row.state = state;
    row.detail = detail;
    row.done_at = Done(state) || state == DS::kReverted || state == DS::kRevertFailed ? in_.now : 0;
    row.dirty = true;
    Note(kind, row.id, detail);
  }

  const Observed* Find(const std::string& id) const {
    auto it = observed_.find(id);
    return it == observed_.end() ? nullptr : it->second;
  }

  // Rows for devices the target now claims; rows of devices it no longer claims are superseded.
  void Membership() {
    Rollout& r = step_.rollout;
    std::unordered_map<std::string, size_t> rows;
    for (size_t i = 0; i < r.devices.size(); ++i) rows[r.devices[i].id] = i;
    for (auto& row : r.devices) {
      if (Find(row.id) || row.state == DS::kSuperseded || row.state == DS::kSkipped || row.state == DS::kReverted ||
          row.state == DS::kRevertFailed)
        continue;
      Set(row, DS::kSuperseded, "no longer in this rollout's target (a newer rollout took it, or it was revoked or relabelled)",
          "superseded");
    }
    if (r.state == State::kReverting) return;  // an aborted rollout takes no new devices
    const bool initial = r.devices.empty() && r.waves.empty();  // the target as created: no "joined" events
    std::vector<const Observed*> joining;
    for (const auto& o : in_.devices)
      if (!rows.count(o.id)) joining.push_back(&o);
    std::sort(joining.begin(), joining.end(), [](auto* a, auto* b) { return a->id < b->id; });
    for (const auto* o : joining) {
      DeviceRow row;
      row.id = o->id;
      row.site = o->site;
      row.dirty = true;
      r.devices.push_back(std::move(row));
      if (!initial) Note("joined", o->id, "entered the target at site " + o->site);
    }
  }

  // What the device reported, applied to its row.
  void Observe(DeviceRow& row) {
    const Observed* o = Find(row.id);
    if (!o) return;
    const Rollout& r = step_.rollout;
    if (row.site != o->site) {
      row.site = o->site;
      row.dirty = true;
    }
    switch (row.state) {
      case DS::kPending: {
        if (auto why = SkipReason(*o); !why.empty()) return Set(row, DS::kSkipped, why, "skipped");
        // Already running the version (an earlier rollout, an offline install) and not told to
        // run another (an older rollout's dispatch in flight): nothing to send.
        if (Runs(*o, r.version) && row.wave < 0 && (o->desired_version.empty() || o->desired_version == r.version))
          return Set(row, DS::kUpdated, "already ran " + r.version, "updated");
        return;
      }
      case DS::kDispatched:
      case DS::kTimedOut:
        if (Runs(*o, r.version)) return Set(row, DS::kUpdated, "runs " + r.version, "updated");
        if (FailedSince(*o, r.version, row.dispatched_at)) return FailDevice(row, *o);
        if (row.state == DS::kDispatched && in_.now >= row.dispatched_at + r.strategy.device_timeout_seconds)
          return Set(row, DS::kTimedOut,
                     "no outcome " + Duration(r.strategy.device_timeout_seconds) + " after dispatch (" +
                         (o->online ? "state " + (o->state.empty() ? std::string("none") : o->state) : "offline") +
                         "); it keeps the version as its desired one",
                     "timed_out");
        return;
      case DS::kReverting:
      case DS::kRevertFailed:
        if (Settled(o->state) && o->active_version == row.from_version)
          return Set(row, DS::kReverted, "runs " + row.from_version + " again", "reverted");
        if (row.state == DS::kReverting && FailedOn(*o, row.from_version))
          return Set(row, DS::kRevertFailed, "could not go back to " + row.from_version + ": state " + o->state, "revert_failed");
        if (row.state == DS::kReverting && in_.now >= row.dispatched_at + r.strategy.device_timeout_seconds)
          return Set(row, DS::kRevertFailed,
                     "not back on " + row.from_version + " " + Duration(r.strategy.device_timeout_seconds) +
                         " after the revert (" + (o->online ? "state " + o->state : "offline") +
                         "); its desired version is " + row.from_version,
                     "revert_failed");
        return;
      case DS::kSuperseded:
        // Claimed again: the newer rollout that took it ended (aborted, reverted). A device that
        // runs this version (a revert brought it back) counts as updated again; any other stays
        // superseded: the older rollout does not undo what the newer one left.
        if (Runs(*o, r.version)) return Set(row, DS::kUpdated, "runs " + r.version + " again (a newer rollout let it go)", "rejoined");
        return;
      default:
        return;
    }
  }

  std::string SkipReason(const Observed& o) const {
    const Rollout& r = step_.rollout;
    if (!o.incompatible.empty()) return "incompatible: " + o.incompatible;
    if (o.floor > r.security_version)
      return "anti-rollback floor " + std::to_string(o.floor) + " is above " + r.version + "'s security_version " +
             std::to_string(r.security_version);
    // Failed during this rollout (an earlier dispatch of it): the rollout does not retry it. A
    // failure before it was created is an operator's earlier attempt: retried, unless the agent
    // holds it as a verdict on the version (it does not retry a failed install by itself; it does
    // retry a refusal, whose cause — an expired policy, say — may be gone).
    if (FailedSince(o, r.version, r.created_at)) return r.version + " already failed on this device in this rollout; not retried";
    if (FailedOn(o, r.version) && o.detail.rfind("refused ", 0) != 0)
      return r.version + " " + o.state + " on this device (" + o.detail + "); its agent does not retry a failed version";
    return "";
  }

  // A failed device goes back to its incumbent as its desired version (it already runs it: the
  // agent rolled back or never switched), so the controller never keeps wanting a version that
  // failed there.
  void FailDevice(DeviceRow& row, const Observed& o) {
    const Rollout& r = step_.rollout;
    std::string why = (o.state.empty() ? std::string("failed") : o.state) + " on " + r.version;
    if (!o.detail.empty() && o.target_version == r.version) why += ": " + o.detail;
    Set(row, DS::kFailed, why, "failed");
    if (!row.from_version.empty() && row.from_version != r.version) {
      step_.dispatches.push_back({row.id, row.from_version, true});
      ++row.dispatches;
    }
  }

  // Devices of the target, by what the waves count: not skipped, not superseded.
  bool Counts(const DeviceRow& row) const { return row.state != DS::kSkipped && row.state != DS::kSuperseded; }

  void RunWave() {
    Rollout& r = step_.rollout;
    const uint32_t w = r.wave;
    if (r.waves.size() <= w) {
      r.waves.resize(w + 1);
      r.waves[w].started_at = in_.now;
      Note("wave_started", "", WaveName(w) + " started");
    }
    Wave& wave = r.waves[w];
    if (wave.completed_at == 0) {
      Assign(w);
      DispatchPending(w, false);
    }
    // Install gate, judged continuously on failures.
    size_t size = 0, updated = 0, failed = 0, open = 0;
    for (const auto& row : r.devices) {
      if (row.wave != static_cast<int32_t>(w) || !Counts(row)) continue;
      ++size;
      if (row.state == DS::kUpdated) ++updated;
      if (row.state == DS::kFailed) ++failed;
      if (!Done(row.state)) ++open;
    }
    // Resumed past this wave's failed gate: the failures that failed it do not fail it again.
    const bool overridden = r.override_gate;
    if (!overridden && size > 0 && static_cast<double>(failed) / static_cast<double>(size) > r.strategy.failure_threshold + 1e-12)
      return GateFailed("install failures: " + std::to_string(failed) + " of " + std::to_string(size) + " devices (" +
                        Percent(static_cast<double>(failed) / static_cast<double>(size)) + ", threshold " + Percent(r.strategy.failure_threshold) + ")");
    if (open > 0) return;
    if (wave.completed_at == 0) {
      wave.completed_at = in_.now;
      Note("wave_done", "", WaveName(w) + ": " + std::to_string(updated) + " updated, " + std::to_string(failed) + " failed of " +
                                std::to_string(size));
    }
    if (size == 0) return GatePassed("passed: no device in this wave");  // nothing to soak or judge
    if (overridden) {
      r.override_gate = false;
      return GatePassed(wave.gate.empty() ? "passed (operator resumed)" : wave.gate + "; overridden by the operator");
    }
    if (updated + failed > 0) {
      const double success = static_cast<double>(updated) / static_cast<double>(updated + failed);
      if (success + 1e-12 < r.strategy.success_threshold)
        return GateFailed("installed on " + std::to_string(updated) + " of " + std::to_string(updated + failed) + " (" +
                          Percent(success) + ", threshold " + Percent(r.strategy.success_threshold) + ")");
    }
    const Verdict v = HealthGate(w, updated);
    if (v.kind == Verdict::kFail) return GateFailed(v.text);
    if (v.kind == Verdict::kPass) return GatePassed(v.text);
  }

  std::string WaveName(uint32_t w) const {
    const Rollout& r = step_.rollout;
    if (r.WaveCount() == 1) return "wave 0 (all at once)";
    return w == 0 ? "wave 0 (canary)" : "wave " + std::to_string(w);
  }

  // Brings the devices assigned to waves 0..w up to the wave's cumulative share.
  void Assign(uint32_t w) {
    Rollout& r = step_.rollout;
    const Strategy& s = r.strategy;
    std::map<std::string, std::vector<DeviceRow*>> free_by_site;  // pending, unassigned
    std::map<std::string, size_t> total_by_site, taken_by_site;
    size_t total = 0, taken = 0;
    for (auto& row : r.devices) {
      // Devices that already ran the version took no wave and take no share of one.
      if (!Counts(row) || (row.wave < 0 && row.state != DS::kPending)) continue;
      ++total;
      ++total_by_site[row.site];
      if (row.state == DS::kPending && row.wave < 0) {
        free_by_site[row.site].push_back(&row);
      } else {
        ++taken;
        ++taken_by_site[row.site];
      }
    }
    // Online devices first, then by id.
    for (auto& [site, rows] : free_by_site)
      std::stable_sort(rows.begin(), rows.end(), [&](DeviceRow* a, DeviceRow* b) {
        const bool oa = Online(a->id), ob = Online(b->id);
        if (oa != ob) return oa;
        return a->id < b->id;
      });
    auto take = [&](DeviceRow* row) {
      row->wave = static_cast<int32_t>(w);
      row->dirty = true;
    };
    if (w == 0 && s.canary_per_site) {
      for (auto& [site, rows] : free_by_site) {
        const size_t want = s.canary.Of(total_by_site[site]);
        size_t have = taken_by_site[site];
        for (size_t i = 0; i < rows.size() && have < want; ++i, ++have) take(rows[i]);
      }
      return;
    }
    const size_t want = w == 0 ? s.canary.Of(total) : s.waves[w - 1].Of(total);
    // Round-robin over sites, so every wave spreads over the fleet.
    std::vector<std::pair<std::vector<DeviceRow*>*, size_t>> cursors;
    for (auto& [site, rows] : free_by_site) cursors.push_back({&rows, 0});
    // Sites with online devices first, so that the canary lands where it can report.
    std::stable_sort(cursors.begin(), cursors.end(), [&](const auto& a, const auto& b) {
      return Online(a.first->front()->id) && !Online(b.first->front()->id);
    });
    while (taken < want) {
      bool any = false;
      for (auto& [rows, next] : cursors) {
        if (taken >= want) break;
        if (next >= rows->size()) continue;
        take((*rows)[next++]);
        ++taken;
        any = true;
      }
      if (!any) break;
    }
  }

  bool Online(const std::string& id) const {
    const Observed* o = Find(id);
    return o && o->online;
  }

  // Dispatches pending devices of wave `w` (or, standing, every pending device) within the
  // parallelism limits.
  void DispatchPending(uint32_t w, bool standing) {
    Rollout& r = step_.rollout;
    const Strategy& s = r.strategy;
    size_t in_flight = 0;
    std::map<std::string, size_t> site_in_flight, site_total;
    for (const auto& row : r.devices) {
      if (InFlight(row.state)) {
        ++in_flight;
        ++site_in_flight[row.site];
      }
      if (Counts(row)) ++site_total[row.site];
    }
    for (auto& row : r.devices) {
      if (row.state != DS::kPending) continue;
      if (standing) {
        if (row.wave < 0) row.wave = static_cast<int32_t>(w);
      } else if (row.wave != static_cast<int32_t>(w)) {
        continue;
      }
      if (s.max_parallel > 0 && in_flight >= s.max_parallel) return;
      if (!s.site_budget.IsZero()) {
        const size_t budget = std::max<size_t>(1, s.site_budget.Of(site_total[row.site]));
        if (site_in_flight[row.site] >= budget) continue;
      }
      const Observed* o = Find(row.id);
      row.from_version = o ? o->active_version : "";
      row.state = DS::kDispatched;
      row.dispatched_at = in_.now;
      row.done_at = 0;
      ++row.dispatches;
      row.detail = row.from_version.empty() ? "first version" : "from " + row.from_version;
      row.dirty = true;
      step_.dispatches.push_back({row.id, r.version, false});
      Note("dispatched", row.id, row.detail);
      ++in_flight;
      ++site_in_flight[row.site];
    }
  }

  Verdict HealthGate(uint32_t w, size_t updated) {
    const Rollout& r = step_.rollout;
    const Strategy& s = r.strategy;
    const int64_t soak_end = r.waves[w].completed_at + s.soak_seconds;
    const bool soaked = in_.now >= soak_end;
    if (!s.health_gates || updated == 0)
      return soaked ? Verdict{Verdict::kPass, updated == 0 ? "passed: no device of the wave updated (all skipped or timed out)"
                                                           : "passed (health gates off)"}
                    : Verdict{};
    uint64_t n = 0, e = 0, bn = 0, be = 0;
    std::vector<uint64_t> bounds, counts, base_bounds, base_counts;
    size_t reporting = 0;
    for (const auto& row : r.devices) {
      if (row.wave != static_cast<int32_t>(w) || row.state != DS::kUpdated) continue;
      const Observed* o = Find(row.id);
      if (!o) continue;
      if (o->restarts_since_dispatch > s.max_restarts)
        return {Verdict::kFail, row.id + " restarted " + std::to_string(o->restarts_since_dispatch) + " times since the update (limit " +
                                    std::to_string(s.max_restarts) + ")"};
      if (!o->health || o->health->version != r.version) continue;
      const HealthSample& h = *o->health;
      if (h.last_selftest.rfind("failed", 0) == 0 && h.last_selftest_at >= row.dispatched_at)
        return {Verdict::kFail, row.id + ": self-test of " + r.version + " " + h.last_selftest};
      ++reporting;
      n += h.inferences;
      e += std::min(h.errors, h.inferences);
      Merge(bounds, counts, h);
      if (row.baseline && row.baseline->version == row.from_version && !row.from_version.empty()) {
        bn += row.baseline->inferences;
        be += std::min(row.baseline->errors, row.baseline->inferences);
        Merge(base_bounds, base_counts, *row.baseline);
      }
    }
    const std::string where = " over " + std::to_string(reporting) + " device(s), " + std::to_string(n) + " requests";
    if (n < std::max<uint32_t>(1, s.min_requests)) {
      if (s.min_requests == 0) return soaked ? Verdict{Verdict::kPass, "passed: no traffic to judge (min requests 0)"} : Verdict{};
      if (in_.now < soak_end + s.health_timeout_seconds) return {};
      const std::string text = "not enough traffic to judge health: " + std::to_string(n) + " of " +
                               std::to_string(s.min_requests) + " requests " +
                               Duration(s.soak_seconds + s.health_timeout_seconds) + " after the wave was done";
      if (s.insufficient_traffic == InsufficientTraffic::kProceed) return {Verdict::kPass, "passed without health evidence: " + text};
      insufficient_ = true;
      return {Verdict::kFail, text};
    }
    const double rate = static_cast<double>(e) / static_cast<double>(n);
    const double base_rate = bn > 0 ? static_cast<double>(be) / static_cast<double>(bn) : 0.0;
    if (rate > base_rate + s.max_error_rate_increase + 1e-12)
      return {Verdict::kFail, "error rate " + Percent(rate) + " on " + r.version + " vs " + Percent(base_rate) +
                                  " on the incumbent (limit +" + Percent(s.max_error_rate_increase) + ")" + where};
    std::string latency = "no incumbent latency to compare with";
    if (bn >= std::max<uint32_t>(1, s.min_requests) && !base_counts.empty() && !counts.empty()) {
      const double p99 = PercentileUs(bounds, counts, 99), base_p99 = PercentileUs(base_bounds, base_counts, 99);
      if (base_p99 > 0 && p99 > base_p99 * (1 + s.max_latency_regression))
        return {Verdict::kFail, "p99 " + Micros(p99) + " on " + r.version + " vs " + Micros(base_p99) + " on the incumbent (+" +
                                    Percent(p99 / base_p99 - 1) + ", limit +" + Percent(s.max_latency_regression) + ")" + where};
      latency = "p99 " + Micros(p99) + " vs " + Micros(base_p99);
    }
    if (!soaked) return {};
    return {Verdict::kPass, "passed: error rate " + Percent(rate) + " vs " + Percent(base_rate) + ", " + latency + where};
  }

  void GatePassed(const std::string& text) {
    Rollout& r = step_.rollout;
    r.waves[r.wave].gate = text;
    Note("gate_passed", "", WaveName(r.wave) + ": " + text);
    if (r.wave + 1 < r.WaveCount()) {
      ++r.wave;
      return;
    }
    r.state = State::kCompleted;
    r.reason.clear();
    Note("completed", "", "every wave passed; the target stays at " + r.version + " (devices that join it get it)");
  }

  void GateFailed(const std::string& text) {
    Rollout& r = step_.rollout;
    r.waves[r.wave].gate = "failed: " + text;
    Note("gate_failed", "", WaveName(r.wave) + ": " + text);
    const OnFailure action = insufficient_ ? OnFailure::kPause : r.strategy.on_failure;
    r.reason = WaveName(r.wave) + ": " + text;
    switch (action) {
      case OnFailure::kPause:
        r.state = State::kPaused;
        Note("paused", "", insufficient_ ? "resume to proceed without health evidence, or abort" : "resume to proceed anyway, or abort");
        break;
      case OnFailure::kAbort:
        r.state = State::kAborted;
        Note("aborted", "", "devices keep what they run");
        break;
      case OnFailure::kRevert:
        r.state = State::kReverting;
        Note("reverting", "", "every device this rollout moved goes back");
        break;
    }
  }

  // Sends every device the rollout moved back to its from_version.
  void Revert() {
    Rollout& r = step_.rollout;
    bool open = false;
    for (auto& row : r.devices) {
      if (row.state == DS::kReverting) open = true;
      if (row.state != DS::kDispatched && row.state != DS::kUpdated && row.state != DS::kFailed && row.state != DS::kTimedOut)
        continue;
      const Observed* o = Find(row.id);
      if (row.dispatches == 0) continue;  // never moved by this rollout (it already ran the version)
      if (row.from_version.empty()) {
        Set(row, DS::kRevertFailed, "ran no version of " + r.model + " before: nothing to go back to", "revert_failed");
        continue;
      }
      if (row.from_version == r.version) continue;  // it ran this version already: not moved
      auto sv = in_.security_versions.find(row.from_version);
      if (sv == in_.security_versions.end()) {
        Set(row, DS::kRevertFailed, row.from_version + " is no longer stored on the controller", "revert_failed");
        continue;
      }
      if (o && o->floor > sv->second) {
        Set(row, DS::kRevertFailed,
            "anti-rollback floor " + std::to_string(o->floor) + " is above " + row.from_version + "'s security_version " +
                std::to_string(sv->second),
            "revert_failed");
        continue;
      }
      const bool already = o && Settled(o->state) && o->active_version == row.from_version;
      if (row.state != DS::kFailed || !already) {  // a failed device's desired version went back already
        step_.dispatches.push_back({row.id, row.from_version, true});
        ++row.dispatches;
      }
      row.dispatched_at = in_.now;
      if (already) {
        Set(row, DS::kReverted, "runs " + row.from_version + " again", "reverted");
      } else {
        Set(row, DS::kReverting, "back to " + row.from_version, "reverting");
        open = true;
      }
    }
    if (!open) {
      r.state = State::kReverted;
      Note("reverted", "", "every device this rollout moved is back (or could not be: see each device)");
    }
  }

  const Inputs& in_;
  Step step_;
  std::unordered_map<std::string, const Observed*> observed_;
  bool insufficient_ = false;
};

}  // namespace

Step Plan(const Rollout& rollout, const Inputs& inputs) { return Planner(rollout, inputs).Run(); }

Result<Step> ApplyControl(const Rollout& rollout, Control control, const std::string& reason, int64_t now) {
  Step step;
  step.rollout = rollout;
  Rollout& r = step.rollout;
  const std::string why = reason.empty() ? "" : ": " + reason;
  auto refuse = [&](const std::string& what) -> Result<Step> {
    return Fail(ErrorCode::kFailedPrecondition,
                "rollout " + std::to_string(r.id) + " is " + std::string(Name(r.state)) + ": cannot " + what);
  };
  switch (control) {
    case Control::kPause:
      if (r.state != State::kRunning && r.state != State::kCompleted) return refuse("pause it");
      r.state = State::kPaused;
      r.reason = "paused by the operator" + why;
      step.events.push_back({"paused", "", r.reason});
      break;
    case Control::kResume: {
      if (r.state != State::kPaused) return refuse("resume it (only a paused rollout resumes)");
      r.state = State::kRunning;
      const bool gate_failed = r.wave < r.waves.size() && r.waves[r.wave].gate.rfind("failed", 0) == 0;
      r.override_gate = gate_failed;
      r.reason.clear();
      step.events.push_back({"resumed", "", gate_failed ? "past the failed gate of wave " + std::to_string(r.wave) + why : "resumed" + why});
      break;
    }
    case Control::kAbort:
      if (!IsLive(r.state)) return refuse("abort it");
      r.state = State::kAborted;
      r.reason = "aborted by the operator" + why;
      step.events.push_back({"aborted", "", r.reason});
      break;
    case Control::kAbortRevert:
      if (!IsLive(r.state) && r.state != State::kAborted) return refuse("revert it");
      r.state = State::kReverting;
      r.reason = "aborted and reverted by the operator" + why;
      step.events.push_back({"reverting", "", r.reason});
      break;
  }
  step.changed = true;
  r.updated_at = now;
  return step;
}

double PercentileUs(const std::vector<uint64_t>& upper_us, const std::vector<uint64_t>& counts, double p) {
  std::vector<double> upper(upper_us.begin(), upper_us.end());
  return BucketPercentile(upper, counts, p);
}

}  // namespace edge::controller::rollout
