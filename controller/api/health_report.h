// Checks what an agent reports about its health and its update outcomes before any of it is
// stored. The report comes from an authenticated device but is still input: counts and
// lengths are bounded and numbers must be finite, so a buggy or hostile agent can neither
// store garbage nor make the controller's rows grow without limit. A malformed part is left
// out and named in `problems` (the caller logs each with the device id); the rest is kept.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "controller/store/types.h"
#include "edge/v1/agent.pb.h"

namespace edge::controller {

inline constexpr size_t kMaxHealthModels = 64;
inline constexpr size_t kMaxLatencyBuckets = 64;
inline constexpr size_t kMaxSelftestText = 256;
inline constexpr size_t kMaxEventsPerReport = 256;
inline constexpr size_t kMaxEventReason = 1024;
// An agent or model state name ("serving", "probation", ...).
inline constexpr size_t kMaxState = 32;

template <typename T>
struct Checked {
  T value;
  std::vector<std::string> problems;
};

// The report as a record stamped with `received_at` (controller clock). Model entries that are
// malformed are left out; the whole report is refused (nullopt) when it has more than
// kMaxHealthModels models or a machine figure that is not a finite, non-negative number.
Checked<std::optional<HealthRecord>> CheckHealth(const edge::v1::Health& health, int64_t received_at);

// The well-formed events, lowest seq first, at most kMaxEventsPerReport (the rest wait for the
// next report: the cumulative ack never covers a seq that was not taken). A repeated seq keeps
// its first copy.
Checked<std::vector<UpdateEventRecord>> CheckEvents(
    const google::protobuf::RepeatedPtrField<edge::v1::UpdateEvent>& events);

// `text` cut to at most `max_bytes` without splitting a UTF-8 sequence (proto3 strings must
// stay valid UTF-8, or the operator's client cannot parse the reply).
std::string TruncateUtf8(std::string_view text, size_t max_bytes);

}  // namespace edge::controller
