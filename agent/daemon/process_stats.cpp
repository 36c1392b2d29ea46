#include "agent/daemon/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace edge::agent {

ProcessSample SampleProcess() {
  ProcessSample s;
  rusage ru{};
  if (::getrusage(RUSAGE_SELF, &ru) == 0) {
    auto ns = [](const timeval& tv) { return static_cast<int64_t>(tv.tv_sec) * 1'000'000'000 + tv.tv_usec * 1000; };
    s.cpu_ns = ns(ru.ru_utime) + ns(ru.ru_stime);
  }
  s.steady_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now().time_since_epoch()).count();
  if (FILE* f = std::fopen("/proc/self/statm", "r")) {
    unsigned long long size = 0, resident = 0;
    if (std::fscanf(f, "%llu %llu", &size, &resident) == 2)
      s.rss_bytes = resident * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    std::fclose(f);
  }
  return s;
}

double CpuPercent(const ProcessSample& before, const ProcessSample& after) {
  const int64_t wall = after.steady_ns - before.steady_ns;
  if (wall <= 0) return 0.0;
  return 100.0 * static_cast<double>(after.cpu_ns - before.cpu_ns) / static_cast<double>(wall);
}

}  // namespace edge::agent
