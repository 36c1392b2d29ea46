#include "controller/api/limits.h"

#include <algorithm>
#include <utility>

namespace edge::controller {

bool WorkQueueLimit::TryAcquire() {
  int now = pending_.load(std::memory_order_acquire);
  while (now < limit_) {
    if (pending_.compare_exchange_weak(now, now + 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

void TokenBucket::Refill(Clock::time_point now) {
  if (last_ == Clock::time_point{}) last_ = now;
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  if (elapsed > 0) {
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }
}

TokenBucket::Clock::duration TokenBucket::Take(Clock::time_point now) {
  Refill(now);
  // The token is spent either way: an event that has to wait has reserved its slot, so the
  // event after it waits a full interval more (the balance may go below zero, down to -burst).
  tokens_ = std::max(tokens_ - 1.0, -burst_);
  if (tokens_ >= 0.0) return Clock::duration::zero();
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(-tokens_ / rate_));
}

bool TokenBucket::Available(Clock::time_point now) {
  Refill(now);
  return tokens_ >= 1.0;
}

bool TokenBucket::Full(Clock::time_point now) const {
  const double elapsed = last_ == Clock::time_point{} ? 0.0 : std::chrono::duration<double>(now - last_).count();
  return tokens_ + std::max(elapsed, 0.0) * rate_ >= burst_;
}

bool FailureLimiter::Allowed(const std::string& source, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find(source);
  return it == buckets_.end() || it->second.Available(now);
}

void FailureLimiter::RecordFailure(const std::string& source, Clock::time_point now) {
  std::lock_guard lock(mu_);
  auto it = buckets_.find(source);
  if (it == buckets_.end()) {
    if (buckets_.size() >= max_sources_) {
      std::erase_if(buckets_, [&](auto& entry) { return entry.second.Full(now); });
      if (buckets_.size() >= max_sources_) buckets_.clear();
    }
    it = buckets_.emplace(source, TokenBucket(rate_, burst_)).first;
  }
  (void)it->second.Take(now);
}

size_t FailureLimiter::tracked() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

std::optional<uint64_t> RefusalAuditLimiter::Admit(const std::string& actor, Clock::time_point now) {
  auto it = actors_.find(actor);
  if (it == actors_.end()) {
    if (actors_.size() >= max_actors_) {
      std::erase_if(actors_, [&](auto& entry) { return entry.second.suppressed == 0 && entry.second.bucket.Full(now); });
      if (actors_.size() >= max_actors_) actors_.clear();
    }
    it = actors_.emplace(actor, Actor{TokenBucket(rate_, burst_)}).first;
  }
  auto& a = it->second;
  if (!a.bucket.Available(now)) {
    ++a.suppressed;
    return std::nullopt;
  }
  (void)a.bucket.Take(now);
  return std::exchange(a.suppressed, 0);
}

std::string SourceAddressOf(const std::string& peer) {
  if (!peer.starts_with("ipv4:") && !peer.starts_with("ipv6:")) return peer;
  std::string rest = peer.substr(5);
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    return close == std::string::npos ? rest : rest.substr(1, close - 1);
  }
  auto last = rest.rfind(':');
  if (last == std::string::npos || rest.find(':') != last) return rest;  // no port, or a bare IPv6
  return rest.substr(0, last);
}

}  // namespace edge::controller
