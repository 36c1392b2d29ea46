// Which trust policy the controller serves at start: never a lower version than one an admin
// pushed, even once that one has expired (a fallback would trust again a removed key).
#include <catch2/catch.hpp>

#include "controller/api/context.h"
#include "tests/unit/controller/test_now.h"

using namespace edge;
using namespace edge::controller;

namespace {

std::shared_ptr<const TrustState> Policy(uint64_t version, std::optional<int64_t> expires) {
  TrustState t;
  t.policy.fleet = "demo";
  t.policy.version = version;
  t.policy.expires = expires;
  t.envelope = "v" + std::to_string(version);
  return std::make_shared<const TrustState>(std::move(t));
}

using edge::controller::testing::kNow;

}  // namespace

TEST_CASE("ChooseServedPolicy serves the highest version, expired or not", "[trust]") {
  const auto file_v1 = Policy(1, std::nullopt);
  CHECK(ChooseServedPolicy(file_v1, nullptr, kNow).value()->policy.version == 1);
  CHECK(ChooseServedPolicy(file_v1, Policy(2, std::nullopt), kNow).value()->policy.version == 2);
  // The pushed v3 expired: still v3, never back to the file's v1.
  auto served = ChooseServedPolicy(file_v1, Policy(3, kNow - 10), kNow);
  REQUIRE(served);
  CHECK((*served)->policy.version == 3);
  CHECK(Expired(**served, kNow));
  // A file newer than what was pushed wins.
  CHECK(ChooseServedPolicy(Policy(4, std::nullopt), Policy(3, std::nullopt), kNow).value()->policy.version == 4);
}

TEST_CASE("ChooseServedPolicy refuses an expired file that nothing newer replaces", "[trust]") {
  auto r = ChooseServedPolicy(Policy(2, kNow - 1), Policy(1, std::nullopt), kNow);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kBadConfig);
  CHECK_THAT(r.error().message, Catch::Contains("has expired"));
}
