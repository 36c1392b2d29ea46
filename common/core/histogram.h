// Percentiles of bucketed latency histograms, one estimate for every place that reads them (the
// agent's reports, the controller's rollout gates), so both sides agree on a figure.
#pragma once

#include <cstdint>
#include <span>

namespace edge {

// The p-th percentile (0 < p <= 100) of a histogram whose bucket i holds the samples at or below
// upper[i] (and above upper[i-1]); `counts` may have one more entry than `upper`: the overflow
// bucket, which has no bound, so a percentile that lands there reports its lower edge. The
// estimate is the nearest-rank sample's bucket, interpolated linearly inside it; 0 with no
// samples. Units are the caller's.
double BucketPercentile(std::span<const double> upper, std::span<const uint64_t> counts, double p);

}  // namespace edge
