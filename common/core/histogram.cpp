#include "common/core/histogram.h"

#include <algorithm>
#include <cmath>

namespace edge {

double BucketPercentile(std::span<const double> upper, std::span<const uint64_t> counts, double p) {
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  if (total == 0 || upper.empty()) return 0.0;
  const double wanted = std::ceil(std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(total));
  const uint64_t rank = std::max<uint64_t>(1, static_cast<uint64_t>(wanted));
  uint64_t below = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] > 0 && below + counts[i] >= rank) {
      const double lower = i == 0 ? 0.0 : upper[std::min(i - 1, upper.size() - 1)];
      if (i >= upper.size()) return lower;  // the overflow bucket: only its lower edge is known
      const double fraction = static_cast<double>(rank - below) / static_cast<double>(counts[i]);
      return lower + (upper[i] - lower) * fraction;
    }
    below += counts[i];
  }
  return upper.back();
}

}  // namespace edge
