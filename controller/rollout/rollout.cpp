#include "controller/rollout/rollout.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "common/core/text.h"

namespace edge::controller::rollout {

size_t Amount::Of(size_t n) const {
  if (!is_percent) return std::min<size_t>(count, n);
  if (percent <= 0 || n == 0) return 0;
  // Rounded up, with a little slack so that 100/3% of 3 is 1, not 2.
  const double exact = static_cast<double>(n) * percent / 100.0;
  return std::min<size_t>(n, static_cast<size_t>(std::ceil(exact - 1e-9)));
}

std::string Amount::Text() const {
  if (!is_percent) return std::to_string(count);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", percent);
  return buf;
}

Result<Amount> ParseAmount(std::string_view text) {
  const std::string t(text);
  auto bad = [&] { return Fail(ErrorCode::kInvalidArgument, "'" + text::TerminalSafe(t.substr(0, 80)) + "' is not a count (e.g. 3) or a percentage (e.g. 25%)"); };
  if (t.empty() || t.size() > 16) return bad();
  char* end = nullptr;
  if (t.back() == '%') {
    const double p = std::strtod(t.c_str(), &end);
    if (end != t.c_str() + t.size() - 1 || !std::isfinite(p)) return bad();
    if (p <= 0 || p > 100) return Fail(ErrorCode::kInvalidArgument, "'" + text::TerminalSafe(t.substr(0, 80)) + "': a percentage must be above 0% and at most 100%");
    return Amount::Percent(p);
  }
  for (char c : t)
    if (c < '0' || c > '9') return bad();
  const unsigned long long n = std::strtoull(t.c_str(), &end, 10);
  if (n > 10'000'000) return Fail(ErrorCode::kInvalidArgument, "'" + text::TerminalSafe(t.substr(0, 80)) + "' is too many devices");
  return Amount::Count(static_cast<uint32_t>(n));
}

Strategy AllAtOnce() {
  Strategy s;
  s.canary = Amount::Percent(100);
  s.canary_per_site = false;
  s.waves.clear();
  s.soak_seconds = 0;
  s.health_gates = false;
  s.success_threshold = 1.0;
  s.failure_threshold = 1.0;
  s.on_failure = OnFailure::kPause;
  return s;
}

namespace {
bool IsAll(const Amount& a) { return a.is_percent && a.percent >= 100; }
Status Bad(const std::string& what) { return Fail(ErrorCode::kInvalidArgument, "strategy: " + what); }
bool Ratio(double v) { return std::isfinite(v) && v >= 0 && v <= 1; }
}  // namespace

Status Validate(const Strategy& s) {
  if (s.canary.IsZero()) return Bad("the canary must be at least one device (or use all at once)");
  if (s.waves.size() > 20) return Bad("at most 20 waves after the canary");
  const Amount& last = s.waves.empty() ? s.canary : s.waves.back();
  if (!IsAll(last) || (s.waves.empty() && s.canary_per_site))
    return Bad("the last wave must be 100% (it was " + last.Text() + "): every device of the target is updated in the end");
  for (size_t i = 0; i + 1 < s.waves.size(); ++i)
    if (s.waves[i].IsZero()) return Bad("wave " + std::to_string(i + 1) + " is empty");
  // Waves are cumulative: each must take more than the one before (of the same kind).
  for (size_t i = 1; i < s.waves.size(); ++i) {
    const Amount& a = s.waves[i - 1];
    const Amount& b = s.waves[i];
    if (a.is_percent == b.is_percent && (a.is_percent ? b.percent <= a.percent : b.count <= a.count))
      return Bad("waves are cumulative and must grow: wave " + std::to_string(i + 1) + " (" + b.Text() + ") is not above wave " +
                 std::to_string(i) + " (" + a.Text() + ")");
  }
  if (!Ratio(s.success_threshold)) return Bad("success threshold must be between 0% and 100%");
  if (!Ratio(s.failure_threshold)) return Bad("failure threshold must be between 0% and 100%");
  if (!std::isfinite(s.max_latency_regression) || s.max_latency_regression < 0 || s.max_latency_regression > 100)
    return Bad("max latency regression must be between 0% and 10000%");
  if (!Ratio(s.max_error_rate_increase)) return Bad("max error rate increase must be between 0% and 100%");
  constexpr int64_t kYear = 366LL * 24 * 3600;
  if (s.soak_seconds < 0 || s.soak_seconds > kYear) return Bad("soak must be between 0 and a year");
  if (s.device_timeout_seconds <= 0 || s.device_timeout_seconds > kYear) return Bad("device timeout must be between 1s and a year");
  if (s.health_timeout_seconds < 0 || s.health_timeout_seconds > kYear) return Bad("health timeout must be between 0 and a year");
  if (s.min_requests > 100'000'000) return Bad("min requests is too large");
  return Ok();
}

std::string_view Name(OnFailure v) {
  switch (v) {
    case OnFailure::kPause: return "pause";
    case OnFailure::kAbort: return "abort";
    case OnFailure::kRevert: return "revert";
  }
  return "pause";
}

std::string_view Name(InsufficientTraffic v) { return v == InsufficientTraffic::kProceed ? "proceed" : "pause"; }

std::optional<OnFailure> ParseOnFailure(std::string_view t) {
  for (auto v : {OnFailure::kPause, OnFailure::kAbort, OnFailure::kRevert})
    if (Name(v) == t) return v;
  return std::nullopt;
}

std::optional<InsufficientTraffic> ParseInsufficientTraffic(std::string_view t) {
  for (auto v : {InsufficientTraffic::kPause, InsufficientTraffic::kProceed})
    if (Name(v) == t) return v;
  return std::nullopt;
}

namespace {
constexpr State kStates[] = {State::kRunning, State::kPaused, State::kCompleted, State::kAborted, State::kReverting, State::kReverted};
constexpr DeviceState kDeviceStates[] = {DeviceState::kPending,  DeviceState::kDispatched, DeviceState::kUpdated,
                                         DeviceState::kFailed,   DeviceState::kTimedOut,   DeviceState::kSkipped,
                                         DeviceState::kReverting, DeviceState::kReverted,  DeviceState::kRevertFailed,
                                         DeviceState::kSuperseded};
}  // namespace

std::string_view Name(State s) {
  switch (s) {
    case State::kRunning: return "running";
    case State::kPaused: return "paused";
    case State::kCompleted: return "completed";
    case State::kAborted: return "aborted";
    case State::kReverting: return "reverting";
    case State::kReverted: return "reverted";
  }
  return "running";
}

std::optional<State> ParseState(std::string_view t) {
  for (auto s : kStates)
    if (Name(s) == t) return s;
  return std::nullopt;
}

std::string_view Name(DeviceState s) {
  switch (s) {
    case DeviceState::kPending: return "pending";
    case DeviceState::kDispatched: return "dispatched";
    case DeviceState::kUpdated: return "updated";
    case DeviceState::kFailed: return "failed";
    case DeviceState::kTimedOut: return "timed_out";
    case DeviceState::kSkipped: return "skipped";
    case DeviceState::kReverting: return "reverting";
    case DeviceState::kReverted: return "reverted";
    case DeviceState::kRevertFailed: return "revert_failed";
    case DeviceState::kSuperseded: return "superseded";
  }
  return "pending";
}

std::optional<DeviceState> ParseDeviceState(std::string_view t) {
  for (auto s : kDeviceStates)
    if (Name(s) == t) return s;
  return std::nullopt;
}

uint32_t Rollout::WaveCount() const { return 1 + static_cast<uint32_t>(strategy.waves.size()); }

std::vector<RowCount> CountRows(const std::vector<DeviceRow>& rows) {
  std::map<std::pair<int32_t, DeviceState>, RowCount> by;
  for (const auto& row : rows) {
    auto& c = by[{row.wave, row.state}];
    c.wave = row.wave;
    c.state = row.state;
    ++c.devices;
    if (row.dispatches > 0) ++c.dispatched;
  }
  std::vector<RowCount> out;
  out.reserve(by.size());
  for (const auto& [key, c] : by) out.push_back(c);
  return out;
}

uint32_t Rollout::DeviceTotal() const {
  uint32_t total = 0;
  for (const auto& c : counts) total += c.devices;
  return total;
}

bool Rollout::Dormant() const {
  if (state != State::kCompleted) return false;
  for (const auto& c : counts)
    if (c.state != DeviceState::kSuperseded && c.state != DeviceState::kSkipped && c.state != DeviceState::kReverted &&
        c.state != DeviceState::kRevertFailed)
      return false;
  return true;
}

}  // namespace edge::controller::rollout
