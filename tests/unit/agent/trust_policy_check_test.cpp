// The agent's judgement of trust policies: the stored one at start (valid, expired but
// authentic, bad) and each one the controller hands it (adopt, same, older, conflict, other fleet).
#include "agent/core/trust_policy_check.h"

#include <catch2/catch.hpp>

#include "common/bundle_fixtures.h"

using namespace edge::agent;
using namespace edge::bundle;
using namespace edge::bundle::testing;

namespace {

struct Fleet {
  edge::crypto::Ed25519KeyPair root = NewKey();
  edge::crypto::Ed25519KeyPair release = NewKey();
  TrustPolicy policy;

  Fleet() {
    policy.fleet = "acme";
    policy.version = 3;
    policy.expires = kNow + 60;
    policy.keys.push_back(Trusted(release, {"*"}));
  }
  std::string Stored(const TrustPolicy& p) const { return SerializeEnvelope(SignedPolicy(p, root.seed)); }
};

HeldPolicy Held(const TrustPolicy& p) { return {p, SerializeTrustPolicy(p)}; }

}  // namespace

TEST_CASE("Stored policy: valid before its expiry, expired but authentic after", "[trust_policy_check]") {
  Fleet f;
  auto valid = ClassifyStoredPolicy(f.Stored(f.policy), f.root.public_key, kNow);
  CHECK(valid.standing == StoredPolicyStanding::kValid);
  CHECK(valid.policy.version == 3);
  CHECK(valid.payload == SerializeTrustPolicy(f.policy));
  CHECK(valid.problem.empty());

  // At the second of expiry and after: still authentic, so the agent starts; installs are blocked.
  for (int64_t now : {*f.policy.expires, *f.policy.expires + 86400 * 365}) {
    auto expired = ClassifyStoredPolicy(f.Stored(f.policy), f.root.public_key, now);
    CHECK(expired.standing == StoredPolicyStanding::kExpired);
    CHECK(expired.policy.version == 3);
    CHECK(expired.policy.keys.size() == 1);
    CHECK(Contains(expired.problem, "trust policy v3 expired at 2023-11-14T22:14:20Z; waiting for a newer policy"));
  }

  TrustPolicy forever = f.policy;
  forever.expires.reset();
  CHECK(ClassifyStoredPolicy(f.Stored(forever), f.root.public_key, kNow + 86400L * 3650).standing ==
        StoredPolicyStanding::kValid);
}

TEST_CASE("Stored policy: signature and root are checked at every start, expired or not", "[trust_policy_check]") {
  Fleet f;
  const int64_t after_expiry = *f.policy.expires + 1;
  auto bad = [&](const std::string& stored, const std::string& expect) {
    for (int64_t now : {kNow, after_expiry}) {
      auto c = ClassifyStoredPolicy(stored, f.root.public_key, now);
      INFO(c.problem);
      CHECK(c.standing == StoredPolicyStanding::kBad);
      CHECK(Contains(c.problem, expect));
    }
  };
  // Signed by a key that is not the pinned root (a release key, or another fleet's root).
  bad(SerializeEnvelope(SignedPolicy(f.policy, f.release.seed)), "not the release root key");
  auto other_root = NewKey();
  auto c = ClassifyStoredPolicy(f.Stored(f.policy), other_root.public_key, after_expiry);
  CHECK(c.standing == StoredPolicyStanding::kBad);
  // The stored bytes were altered after signing (e.g. the expiry pushed out by hand).
  auto env = SignedPolicy(f.policy, f.root.seed);
  TrustPolicy extended = f.policy;
  extended.expires = *f.policy.expires + 86400;
  env.payload = SerializeTrustPolicy(extended);
  bad(SerializeEnvelope(env), "does not verify");
  // Unsigned, not an envelope, or a signed payload that is not a policy.
  bad(SerializeEnvelope(Envelope{std::string(kTrustPolicyPayloadType), SerializeTrustPolicy(f.policy), {}}), "unsigned");
  bad("not json", "");
  Envelope junk{std::string(kTrustPolicyPayloadType), R"({"schema":1})", {}};
  REQUIRE(SignEnvelope(junk, f.root.seed));
  bad(SerializeEnvelope(junk), "trust_policy");
}

TEST_CASE("PolicyExpiredReason is empty while valid and names version and time after", "[trust_policy_check]") {
  Fleet f;
  CHECK_FALSE(PolicyExpiredReason(f.policy, kNow));
  CHECK_FALSE(PolicyExpiredReason(f.policy, *f.policy.expires - 1));
  auto r = PolicyExpiredReason(f.policy, *f.policy.expires);
  REQUIRE(r);
  CHECK(*r == "trust policy v3 expired at 2023-11-14T22:14:20Z; waiting for a newer policy");
  TrustPolicy forever = f.policy;
  forever.expires.reset();
  CHECK_FALSE(PolicyExpiredReason(forever, INT64_MAX));
}

TEST_CASE("Policy update: higher adopted, same ignored, older and equal-but-different refused", "[trust_policy_check]") {
  Fleet f;
  const HeldPolicy held = Held(f.policy);

  TrustPolicy next = f.policy;
  next.version = 4;
  CHECK(DecidePolicyUpdate(&held, next, SerializeTrustPolicy(next), "acme").decision == PolicyUpdate::kAdopt);
  next.version = 40;  // any higher version: agents do not insist on N+1
  CHECK(DecidePolicyUpdate(&held, next, SerializeTrustPolicy(next), "acme").decision == PolicyUpdate::kAdopt);

  CHECK(DecidePolicyUpdate(&held, f.policy, held.payload, "acme").decision == PolicyUpdate::kSame);

  TrustPolicy older = f.policy;
  older.version = 2;
  auto o = DecidePolicyUpdate(&held, older, SerializeTrustPolicy(older), "acme");
  CHECK(o.decision == PolicyUpdate::kOlder);
  CHECK(o.reason == "refusing trust policy v2, older than the held v3");

  // Same version, other content (one more key): two different v3s exist; neither wins silently.
  TrustPolicy twin = f.policy;
  twin.keys.push_back(Trusted(NewKey(), {"detector"}));
  auto t = DecidePolicyUpdate(&held, twin, SerializeTrustPolicy(twin), "acme");
  CHECK(t.decision == PolicyUpdate::kConflict);
  CHECK(Contains(t.reason, "refusing trust policy v3: its content differs from the v3 this device holds"));
}

TEST_CASE("Policy update: a policy for another fleet is refused", "[trust_policy_check]") {
  Fleet f;
  const HeldPolicy held = Held(f.policy);
  TrustPolicy foreign = f.policy;
  foreign.fleet = "globex";
  foreign.version = 9;
  auto d = DecidePolicyUpdate(&held, foreign, SerializeTrustPolicy(foreign), "acme");
  CHECK(d.decision == PolicyUpdate::kOtherFleet);
  CHECK(d.reason == "refusing trust policy v9 for fleet 'globex': this device belongs to fleet 'acme'");
  // No recorded fleet (a state dir from before it was recorded): the held policy's fleet decides.
  CHECK(DecidePolicyUpdate(&held, foreign, SerializeTrustPolicy(foreign), "").decision == PolicyUpdate::kOtherFleet);
  // At enrollment (nothing held) the enrollment response's fleet decides.
  CHECK(DecidePolicyUpdate(nullptr, foreign, SerializeTrustPolicy(foreign), "acme").decision == PolicyUpdate::kOtherFleet);
  CHECK(DecidePolicyUpdate(nullptr, f.policy, held.payload, "acme").decision == PolicyUpdate::kAdopt);
}
