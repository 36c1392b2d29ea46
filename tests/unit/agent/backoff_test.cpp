#include "agent/core/backoff.h"

#include <catch2/catch.hpp>

#include <vector>

using edge::agent::Backoff;
using std::chrono::milliseconds;

TEST_CASE("With jitter near 1 the delays double up to the maximum, then stay", "[backoff]") {
  Backoff b(milliseconds(100), milliseconds(1000), [] { return 0.999; });
  std::vector<int64_t> got;
  for (int i = 0; i < 7; ++i) got.push_back(b.NextDelay().count());
  // floor(0.999 * ceiling)
  CHECK(got == std::vector<int64_t>{99, 199, 399, 799, 999, 999, 999});
  CHECK(b.Ceiling() == milliseconds(1000));
}

TEST_CASE("Reset starts again from the initial delay", "[backoff]") {
  Backoff b(milliseconds(100), milliseconds(1000), [] { return 0.999; });
  for (int i = 0; i < 5; ++i) b.NextDelay();
  b.Reset();
  CHECK(b.Ceiling() == milliseconds(100));
  CHECK(b.NextDelay() == milliseconds(99));
  CHECK(b.NextDelay() == milliseconds(199));
}

TEST_CASE("With jitter 0 the delay is 0", "[backoff]") {
  Backoff b(milliseconds(100), milliseconds(1000), [] { return 0.0; });
  for (int i = 0; i < 10; ++i) CHECK(b.NextDelay() == milliseconds(0));
}

TEST_CASE("Many attempts neither overflow nor exceed the maximum", "[backoff]") {
  Backoff b(milliseconds(500), milliseconds(30000), [] { return 0.999; });
  for (int i = 0; i < 200; ++i) {
    auto d = b.NextDelay();
    CHECK(d >= milliseconds(0));
    CHECK(d <= milliseconds(30000));
  }
  CHECK(b.Ceiling() == milliseconds(30000));
}
