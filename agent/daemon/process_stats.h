// What the agent measures about itself for health reports: CPU time and resident memory.
#pragma once

#include <cstdint>

namespace edge::agent {

struct ProcessSample {
  int64_t cpu_ns = 0;      // user + system time of the whole process
  int64_t steady_ns = 0;   // monotonic clock when sampled
  uint64_t rss_bytes = 0;  // resident set size (0 if /proc is unreadable)
};

ProcessSample SampleProcess();

// CPU use between two samples as a percentage of one core (may exceed 100 with threads).
double CpuPercent(const ProcessSample& before, const ProcessSample& after);

}  // namespace edge::agent
