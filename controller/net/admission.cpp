#include "controller/net/admission.h"

#include <algorithm>

#include <arpa/inet.h>

namespace edge::controller::net {

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kAdmit: return "admitted";
    case Verdict::kOverRate: return "over_rate";
    case Verdict::kOverSourceCap: return "over_source_cap";
    case Verdict::kOverListenerCap: return "over_listener_cap";
    case Verdict::kOverGlobalCap: return "over_global_cap";
    case Verdict::kSourceTableFull: return "source_table_full";
  }
  return "?";
}

std::string SourceKeyOf(const std::string& address) {
  std::string text = address;
  if (auto pct = text.find('%'); pct != std::string::npos) text.resize(pct);  // scope id
  in6_addr v6{};
  if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return address;  // IPv4 text, or not an address
  if (IN6_IS_ADDR_V4MAPPED(&v6)) {
    char v4[INET_ADDRSTRLEN];
    if (inet_ntop(AF_INET, &v6.s6_addr[12], v4, sizeof v4) != nullptr) return v4;
    return address;
  }
  std::fill(std::begin(v6.s6_addr) + 8, std::end(v6.s6_addr), uint8_t{0});
  char out[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &v6, out, sizeof out) == nullptr) return address;
  return std::string(out) + "/64";
}

Admission::Admission(const ConnectionLimits& limits, size_t max_sources)
    : limits_(limits), max_sources_(max_sources) {}

void Admission::Refill(Source& s, Instant now) const {
  const double elapsed = std::chrono::duration<double>(now - s.refilled).count();
  if (elapsed <= 0) return;
  for (auto& tokens : s.tokens)
    tokens = std::min(static_cast<double>(limits_.accept_burst_per_source),
                      tokens + elapsed * limits_.accepts_per_second_per_source);
  s.refilled = now;
}

bool Admission::Forgettable(const Source& s, Instant now) const {
  for (auto n : s.active)
    if (n > 0) return false;
  Source copy = s;
  Refill(copy, now);
  for (auto tokens : copy.tokens)
    if (tokens < static_cast<double>(limits_.accept_burst_per_source)) return false;
  return true;
}

void Admission::Sweep(Instant now) {
  for (auto it = sources_.begin(); it != sources_.end();) {
    if (Forgettable(it->second, now))
      it = sources_.erase(it);
    else
      ++it;
  }
}

Verdict Admission::TryAdmit(ListenerKind listener, const std::string& source_key, Instant now) {
  auto it = sources_.find(source_key);
  if (it == sources_.end()) {
    // A sweep walks the whole table: under a flood of new sources do it at most once a second.
    if (sources_.size() >= max_sources_ && now - last_full_sweep_ >= std::chrono::seconds(1)) {
      last_full_sweep_ = now;
      Sweep(now);
    }
    if (sources_.size() >= max_sources_) return Verdict::kSourceTableFull;
    Source fresh;
    fresh.tokens.fill(static_cast<double>(limits_.accept_burst_per_source));
    fresh.refilled = now;
    it = sources_.emplace(source_key, fresh).first;
  }
  Source& s = it->second;
  const int l = static_cast<int>(listener);
  // Every attempt spends a token, admitted or not: a source that keeps hammering a full
  // listener stays throttled once the listener has room again. The bucket is per listener: a
  // flood of one port from an address does not lock that address out of the others.
  Refill(s, now);
  if (s.tokens[l] < 1) return Verdict::kOverRate;
  s.tokens[l] -= 1;
  if (s.active[l] >= PerSourceCap(listener)) return Verdict::kOverSourceCap;
  if (per_listener_[l] >= limits_.listener_max_connections[l]) return Verdict::kOverListenerCap;
  if (total_ >= limits_.max_connections) return Verdict::kOverGlobalCap;
  ++s.active[l];
  ++per_listener_[l];
  ++total_;
  return Verdict::kAdmit;
}

int64_t Admission::PerSourceCap(ListenerKind listener) const {
  return listener == ListenerKind::kEnroll ? std::min(limits_.max_connections_per_source, kEnrollConnectionsPerSource)
                                           : limits_.max_connections_per_source;
}

bool Admission::AtCap(ListenerKind listener, const std::string& source_key) const {
  return ActiveFrom(listener, source_key) >= PerSourceCap(listener) ||
         per_listener_[static_cast<int>(listener)] >= limits_.listener_max_connections[static_cast<int>(listener)] ||
         total_ >= limits_.max_connections;
}

void Admission::Release(ListenerKind listener, const std::string& source_key, Instant now) {
  const int l = static_cast<int>(listener);
  auto it = sources_.find(source_key);
  // Releasing what was never admitted is a broken invariant of the caller; the counts must
  // not go negative and open the caps.
  if (it == sources_.end() || it->second.active[l] <= 0) return;
  --it->second.active[l];
  --per_listener_[l];
  --total_;
  if (Forgettable(it->second, now)) sources_.erase(it);
}

int64_t Admission::ActiveFrom(ListenerKind listener, const std::string& source_key) const {
  auto it = sources_.find(source_key);
  return it == sources_.end() ? 0 : it->second.active[static_cast<int>(listener)];
}

}  // namespace edge::controller::net
