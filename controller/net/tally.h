// Counts what the front refused or cut, per listener and reason, and hands out a summary at
// most once per period: a flood of rejected connections costs one log line per period, never
// one per connection.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/net/admission.h"
#include "controller/net/limits.h"

namespace edge::controller::net {

class EventTally {
 public:
  explicit EventTally(std::chrono::steady_clock::duration period) : period_(period) {}

  void Count(ListenerKind listener, const std::string& reason, int64_t n = 1);
  // Counts since the last summary, as {"agent": {"over_source_cap": 12, ...}, ...}, if there
  // are any and the last summary is at least one period old; the counts then restart.
  std::optional<nlohmann::json> TakeSummary(Instant now);
  // Totals since start (never reset), for tests and metrics.
  int64_t Total(ListenerKind listener, const std::string& reason) const;

 private:
  std::chrono::steady_clock::duration period_;
  std::optional<Instant> last_summary_;
  std::array<std::map<std::string, int64_t>, kListenerCount> pending_;
  std::array<std::map<std::string, int64_t>, kListenerCount> totals_;
};

}  // namespace edge::controller::net
