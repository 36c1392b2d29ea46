// Bounds that keep one hostile client from taking the controller's logic thread, memory or
// operators' latency. Pure and thread-safe; time is passed in, so tests need no sleep.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <map>
#include <mutex>
#include <optional>
#include <string>

namespace edge::controller {

// How many calls of one listener may wait for the logic strand. Beyond the limit a call is
// refused at once (RESOURCE_EXHAUSTED) instead of queueing: a flood then costs the attacker's
// bandwidth, not the controller's memory, and the queue an operator's call waits behind stays
// short.
class WorkQueueLimit {
 public:
  explicit WorkQueueLimit(int limit) : limit_(limit) {}
  bool TryAcquire();
  void Release() { pending_.fetch_sub(1, std::memory_order_acq_rel); }
  int pending() const { return pending_.load(std::memory_order_acquire); }
  int limit() const { return limit_; }

 private:
  std::atomic<int> pending_{0};
  const int limit_;
};

// A token bucket: `burst` tokens, refilled at `per_second`. Take() says how long to wait
// before the next event is allowed (zero: allowed now, and a token is spent).
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(double per_second, double burst) : rate_(per_second), burst_(burst), tokens_(burst) {}
  Clock::duration Take(Clock::time_point now);
  // Whether a token is available now, without spending it.
  bool Available(Clock::time_point now);
  // Whether the bucket has refilled to its burst (it remembers nothing).
  bool Full(Clock::time_point now) const;

 private:
  void Refill(Clock::time_point now);
  double rate_;
  double burst_;
  double tokens_;
  Clock::time_point last_{};
};

// Failed attempts per source address (enrollment): each failure spends a token; a source with
// none left is refused before any work is done for it. The table is bounded: when full, the
// entries that have refilled completely are dropped first, then the whole table (an attacker
// rotating addresses gains a fresh bucket, never unbounded memory).
class FailureLimiter {
 public:
  using Clock = TokenBucket::Clock;
  FailureLimiter(double per_second, double burst, size_t max_sources = 10000)
      : rate_(per_second), burst_(burst), max_sources_(max_sources) {}
  // Whether `source` may try now.
  bool Allowed(const std::string& source, Clock::time_point now);
  void RecordFailure(const std::string& source, Clock::time_point now);
  size_t tracked() const;

 private:
  mutable std::mutex mu_;
  double rate_;
  double burst_;
  size_t max_sources_;
  std::map<std::string, TokenBucket> buckets_;
};

// Which refused operator calls get an audit row and a log line: `burst` per operator, then one
// per 1/`per_second` s; the refusals in between are counted, and the count goes into the next
// row. So an operator whose calls are refused (a missing role, bad input in a loop) can push
// neither the real entries out of the bounded audit log nor flood the log, and costs at most
// that many writes. The table is bounded like FailureLimiter's. Not thread-safe: the strand's.
class RefusalAuditLimiter {
 public:
  using Clock = TokenBucket::Clock;
  RefusalAuditLimiter(double per_second, double burst, size_t max_actors = 1024)
      : rate_(per_second), burst_(burst), max_actors_(max_actors) {}
  // Whether to write this refusal of `actor`'s; if so, how many of its refusals were not
  // written since its previous row.
  std::optional<uint64_t> Admit(const std::string& actor, Clock::time_point now);
  size_t tracked() const { return actors_.size(); }

 private:
  struct Actor {
    TokenBucket bucket;
    uint64_t suppressed = 0;
  };
  double rate_;
  double burst_;
  size_t max_actors_;
  std::map<std::string, Actor> actors_;
};

// The source address in a gRPC peer string ("ipv4:10.0.0.5:51234" → "10.0.0.5",
// "ipv6:[::1]:443" → "::1"); the input unchanged if it has no port.
std::string SourceAddressOf(const std::string& grpc_peer);

}  // namespace edge::controller
