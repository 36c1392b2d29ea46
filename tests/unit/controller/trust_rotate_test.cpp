// edgectl trust rotate's pure part: version N+1 with the requested key changes, or a refusal
// that names the problem.
#include <catch2/catch.hpp>

#include "common/crypto/ed25519.h"
#include "controller/edgectl/trust_cmd.h"
#include "tests/unit/controller/test_now.h"

using namespace edge;
using namespace edge::edgectl;

namespace {

using edge::controller::testing::kNow;

crypto::Ed25519KeyPair NewKey() {
  auto k = crypto::GenerateEd25519();
  REQUIRE(k);
  return *k;
}

struct Policies {
  crypto::Ed25519KeyPair release1 = NewKey();
  crypto::Ed25519KeyPair release2 = NewKey();
  bundle::TrustPolicy current;
  Policies() {
    current.fleet = "acme";
    current.version = 4;
    current.keys.push_back({crypto::Ed25519KeyId(release1.public_key), release1.public_key, {"*"}});
  }
  std::string id1() const { return crypto::Ed25519KeyId(release1.public_key); }
  std::string id2() const { return crypto::Ed25519KeyId(release2.public_key); }
};

void RequireRefused(const Result<bundle::TrustPolicy>& r, const std::string& needle) {
  REQUIRE_FALSE(r);
  INFO(r.error().message);
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
  CHECK(r.error().message.find(needle) != std::string::npos);
}

}  // namespace

TEST_CASE("trust rotate: add a key, retire the old one, version N+1, same fleet", "[edgectl][trust]") {
  Policies p;
  RotationChanges c;
  c.add.push_back({p.release2.public_key, {"mlp", "kws"}});
  auto v5 = RotateTrustPolicy(p.current, c, kNow);
  REQUIRE(v5);
  CHECK(v5->version == 5);
  CHECK(v5->fleet == "acme");
  REQUIRE(v5->keys.size() == 2);
  CHECK(v5->keys[1].id == p.id2());
  CHECK(v5->keys[1].models == std::vector<std::string>{"mlp", "kws"});
  CHECK_FALSE(v5->expires);
  // The result serializes to a policy the strict parser accepts, ids derived from the keys.
  auto round = bundle::ParseTrustPolicy(bundle::SerializeTrustPolicy(*v5));
  REQUIRE(round);
  CHECK(round->keys.size() == 2);

  RotationChanges retire;
  retire.remove.push_back(p.id1());
  retire.allow.push_back({p.id2(), {"*"}});
  retire.expires_in = std::optional<int64_t>(30 * 86400);
  auto v6 = RotateTrustPolicy(*v5, retire, kNow);
  REQUIRE(v6);
  CHECK(v6->version == 6);
  REQUIRE(v6->keys.size() == 1);
  CHECK(v6->keys[0].id == p.id2());
  CHECK(v6->keys[0].models == std::vector<std::string>{"*"});
  CHECK(v6->expires == kNow + 30 * 86400);

  const std::string diff = DescribeRotation(*v5, *v6);
  INFO(diff);
  CHECK(diff.find("trust policy v5 -> v6 (fleet acme)") != std::string::npos);
  CHECK(diff.find("- " + p.id1()) != std::string::npos);
  CHECK(diff.find("~ " + p.id2() + "  models: mlp, kws -> *") != std::string::npos);
  CHECK(diff.find("expires: never -> ") != std::string::npos);
}

TEST_CASE("trust rotate: refuses what would make a wrong or useless policy", "[edgectl][trust]") {
  Policies p;
  RotationChanges c;
  SECTION("removing the last key") {
    c.remove.push_back(p.id1());
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "removes the last key");
  }
  SECTION("an unknown key id") {
    c.remove.push_back("ed25519:0000000000000000");
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "no key ed25519:0000000000000000 in trust policy v4");
    RotationChanges allow;
    allow.allow.push_back({"ed25519:0000000000000000", {"*"}});
    RequireRefused(RotateTrustPolicy(p.current, allow, kNow), "--allow: no key ed25519:0000000000000000");
  }
  SECTION("a key already in the policy, or added twice") {
    c.add.push_back({p.release1.public_key, {"*"}});
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "is already in trust policy v4");
    RotationChanges twice;
    twice.add.push_back({p.release2.public_key, {"a"}});
    twice.add.push_back({p.release2.public_key, {"b"}});
    RequireRefused(RotateTrustPolicy(p.current, twice, kNow), "is added twice");
  }
  SECTION("allowing a key this rotation removes") {
    c.add.push_back({p.release2.public_key, {"*"}});
    c.remove.push_back(p.id1());
    c.allow.push_back({p.id1(), {"mlp"}});
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "it is removed by this rotation");
  }
  SECTION("bad model lists") {
    c.add.push_back({p.release2.public_key, {}});
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "no models given");
    c.add[0].models = {"has/slash"};
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "'has/slash' is not a model name");
    c.add[0].models = {"*", "mlp"};
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "give it alone");
    c.add[0].models = {"mlp", "mlp"};
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "listed twice");
  }
  SECTION("an expiring policy with no --expires for the next one") {
    p.current.expires = kNow - 10;  // expired: rotating away from it is allowed, but say how long
    RequireRefused(RotateTrustPolicy(p.current, c, kNow), "--expires DURATION");
    c.expires_in = std::optional<int64_t>();  // never
    auto next = RotateTrustPolicy(p.current, c, kNow);
    REQUIRE(next);
    CHECK_FALSE(next->expires);
  }
}

TEST_CASE("trust rotate: model lists parse from flags", "[edgectl][trust]") {
  CHECK(ParseModelList("*").value() == std::vector<std::string>{"*"});
  CHECK(ParseModelList("mlp,kws").value() == std::vector<std::string>{"mlp", "kws"});
  CHECK_FALSE(ParseModelList(""));
  CHECK_FALSE(ParseModelList("mlp,"));
  CHECK_FALSE(ParseModelList("a,,b"));
  CHECK_FALSE(ParseModelList("*,mlp"));
}

TEST_CASE("trust show: version, expiry state, keys and models", "[edgectl][trust]") {
  Policies p;
  p.current.expires = kNow + 60;
  const std::string valid = DescribePolicy(p.current, kNow);
  CHECK(valid.find("Version:  v4") != std::string::npos);
  CHECK(valid.find("(valid)") != std::string::npos);
  CHECK(valid.find(p.id1()) != std::string::npos);
  CHECK(DescribePolicy(p.current, kNow + 60).find("EXPIRED") != std::string::npos);
}
