// The agent's status report (DESIGN §7): a pure function of the update records and what the
// agent measured. The agent sends it on its interval, and soon after a state change.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "agent/core/model_record.h"
#include "agent/serve/registry.h"
#include "edge/v1/agent.pb.h"

namespace edge::agent {

struct SelfTestNote {
  std::string text;
  int64_t at = 0;  // unix seconds
};

struct HealthFacts {
  int64_t now = 0;
  double cpu_percent = 0.0;
  uint64_t rss_bytes = 0;
  std::optional<uint64_t> disk_free_bytes;
  uint64_t uptime_seconds = 0;
  std::map<std::string, serve::Stats> serving;        // by model: the serving version's numbers
  std::map<std::string, SelfTestNote> selftests;      // by model: the latest self-test result
};

// Each model's update state (also the snapshot the hello carries).
edge::v1::StatusReport ModelsReport(const std::map<std::string, ModelRecord>& records);
// The health part: process, disk and each model's serving numbers (during probation: the new
// version's).
void AddHealth(edge::v1::StatusReport& report, const std::map<std::string, ModelRecord>& records,
               const HealthFacts& facts);

}  // namespace edge::agent
