#include "controller/net/tally.h"

namespace edge::controller::net {

void EventTally::Count(ListenerKind listener, const std::string& reason, int64_t n) {
  pending_[static_cast<int>(listener)][reason] += n;
  totals_[static_cast<int>(listener)][reason] += n;
}

std::optional<nlohmann::json> EventTally::TakeSummary(Instant now) {
  if (last_summary_ && now - *last_summary_ < period_) return std::nullopt;
  nlohmann::json summary = nlohmann::json::object();
  for (int i = 0; i < kListenerCount; ++i) {
    if (pending_[i].empty()) continue;
    auto& out = summary[ListenerName(static_cast<ListenerKind>(i))];
    for (const auto& [reason, n] : pending_[i]) out[reason] = n;
    pending_[i].clear();
  }
  if (summary.empty()) return std::nullopt;
  last_summary_ = now;
  return summary;
}

int64_t EventTally::Total(ListenerKind listener, const std::string& reason) const {
  const auto& m = totals_[static_cast<int>(listener)];
  auto it = m.find(reason);
  return it == m.end() ? 0 : it->second;
}

}  // namespace edge::controller::net
