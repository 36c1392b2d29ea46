// Who may open a new connection to a public listener: caps on concurrent connections (per
// listener, all listeners, per source) and a per-source, per-listener token bucket on accepts. Pure and
// single-threaded (the front calls it from its one I/O thread); time is passed in.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include "controller/net/limits.h"

namespace edge::controller::net {

using Instant = std::chrono::steady_clock::time_point;

enum class Verdict {
  kAdmit = 0,
  kOverRate,          // this source opened connections faster than its token bucket allows
  kOverSourceCap,     // this source already holds max_connections_per_source on the listener
  kOverListenerCap,   // the listener holds its max
  kOverGlobalCap,     // all listeners together hold max_connections
  kSourceTableFull,   // too many distinct sources tracked at once
};
inline constexpr int kVerdictCount = 6;
const char* VerdictName(Verdict verdict);

// A source is an IPv4 address or an IPv6 /64 (one host usually owns a whole /64); an
// IPv4-mapped IPv6 address counts as its IPv4 address. `address` is a numeric address as
// Boost.Asio or inet_ntop print it; anything unparsable is its own source.
std::string SourceKeyOf(const std::string& address);

class Admission {
 public:
  // `max_sources` bounds the memory an attacker with many addresses can make us spend.
  explicit Admission(const ConnectionLimits& limits, size_t max_sources = 65536);

  // Decides on a new connection; on kAdmit the connection counts until Release.
  Verdict TryAdmit(ListenerKind listener, const std::string& source_key, Instant now);
  void Release(ListenerKind listener, const std::string& source_key, Instant now);

  // Whether a connection of `source_key` on `listener` would now be refused for a cap (the
  // rate aside): the moment for a caller to release what it knows has ended first.
  bool AtCap(ListenerKind listener, const std::string& source_key) const;

  int64_t Active() const { return total_; }
  int64_t Active(ListenerKind listener) const { return per_listener_[static_cast<int>(listener)]; }
  int64_t ActiveFrom(ListenerKind listener, const std::string& source_key) const;
  size_t TrackedSources() const { return sources_.size(); }
  // Forgets sources with no connection whose bucket is full again (the front calls it
  // periodically; TryAdmit calls it when the table is full, at most once a second).
  void Sweep(Instant now);

 private:
  struct Source {
    std::array<int64_t, kListenerCount> active{};
    std::array<double, kListenerCount> tokens{};  // accept-rate bucket per listener
    Instant refilled;
  };
  int64_t PerSourceCap(ListenerKind listener) const;
  void Refill(Source& s, Instant now) const;
  bool Forgettable(const Source& s, Instant now) const;  // no connection, bucket full again

  ConnectionLimits limits_;
  size_t max_sources_;
  int64_t total_ = 0;
  std::array<int64_t, kListenerCount> per_listener_{};
  std::unordered_map<std::string, Source> sources_;
  Instant last_full_sweep_{};
};

}  // namespace edge::controller::net
