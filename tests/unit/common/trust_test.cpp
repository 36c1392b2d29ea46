#include <catch2/catch.hpp>

#include "bundle_fixtures.h"
#include "common/crypto/encoding.h"

using namespace edge::bundle;
using namespace edge::bundle::testing;
using edge::ErrorCode;

namespace {

struct World {
  edge::crypto::Ed25519KeyPair root = NewKey();
  edge::crypto::Ed25519KeyPair release = NewKey();   // may sign "detector" only
  edge::crypto::Ed25519KeyPair wildcard = NewKey();  // may sign anything
  edge::crypto::Ed25519KeyPair stranger = NewKey();  // not in the policy
  TrustPolicy policy;

  World() {
    policy.fleet = "acme";
    policy.version = 7;
    policy.expires = kNow + 86400;
    policy.keys.push_back(Trusted(release, {"detector"}));
    policy.keys.push_back(Trusted(wildcard, {"*"}));
  }
};

void ExpectDenied(const edge::Result<Manifest>& r, const std::string& expect) {
  REQUIRE_FALSE(r);
  INFO(r.error().message);
  CHECK(r.error().code == ErrorCode::kPermissionDenied);
  CHECK(Contains(r.error().message, expect));
}

}  // namespace

TEST_CASE("Signed manifest verifies end to end through JSON", "[bundle][verify]") {
  World w;
  auto policy_env = ParseEnvelope(SerializeEnvelope(SignedPolicy(w.policy, w.root.seed)));
  REQUIRE(policy_env);
  auto policy = VerifyTrustPolicy(*policy_env, w.root.public_key, kNow);
  REQUIRE(policy);
  CHECK(policy->fleet == "acme");
  CHECK(policy->version == 7);
  REQUIRE(policy->keys.size() == 2);
  CHECK(policy->keys[0].public_key == w.release.public_key);

  auto env = ParseEnvelope(SerializeEnvelope(SignedManifest(SampleManifest(), w.release.seed)));
  REQUIRE(env);
  auto m = VerifyManifest(*env, *policy, kNow);
  REQUIRE(m);
  CHECK(m->name == "detector");
  CHECK(VerifyManifest(SignedManifest(SampleManifest("other"), w.wildcard.seed), *policy, kNow));
}

TEST_CASE("Manifest with a bad signature is rejected", "[bundle][verify]") {
  World w;
  auto env = SignedManifest(SampleManifest(), w.release.seed);
  env.signatures[0].sig[0] ^= 0x01;
  ExpectDenied(
      VerifyManifest(env, w.policy, kNow),
      "signature by " + edge::crypto::Ed25519KeyId(w.release.public_key) + " does not verify");

  // Changing the payload after signing breaks the signature too.
  auto tampered = SignedManifest(SampleManifest(), w.release.seed);
  Manifest evil = SampleManifest();
  evil.security_version = 99;
  tampered.payload = SerializeManifest(evil);
  ExpectDenied(VerifyManifest(tampered, w.policy, kNow), "does not verify");

  // The quality figures are part of the signed payload: raising them breaks the signature.
  Manifest measured = SampleManifest();
  measured.quality = QualityRecord{edge::crypto::Sha256Hex("fp32"), edge::crypto::Sha256Hex("eval"), 100,
                                   {{"logits", 0.9, 0.99, 20.0, 1.0}}};
  auto signed_quality = SignedManifest(measured, w.release.seed);
  REQUIRE(VerifyManifest(signed_quality, w.policy, kNow));
  measured.quality->outputs[0].snr_db = 45.0;
  signed_quality.payload = SerializeManifest(measured);
  ExpectDenied(VerifyManifest(signed_quality, w.policy, kNow), "does not verify");
}

TEST_CASE("Manifest signed by a key not in the policy is rejected", "[bundle][verify]") {
  World w;
  auto env = SignedManifest(SampleManifest(), w.stranger.seed);
  ExpectDenied(VerifyManifest(env, w.policy, kNow),
               "signed by key " + edge::crypto::Ed25519KeyId(w.stranger.public_key) +
                   " which is not in trust policy v7");
  // A stranger claiming a trusted key id still fails: the id selects the key, the key verifies.
  env.signatures[0].key_id = edge::crypto::Ed25519KeyId(w.release.public_key);
  ExpectDenied(VerifyManifest(env, w.policy, kNow), "does not verify");
}

TEST_CASE("Unsigned manifest envelope is rejected", "[bundle][verify]") {
  World w;
  Envelope env{std::string(kManifestPayloadType), SerializeManifest(SampleManifest()), {}};
  ExpectDenied(VerifyManifest(env, w.policy, kNow), "unsigned (no signatures)");
}

TEST_CASE("Key not allowed for that model is rejected", "[bundle][verify]") {
  World w;
  auto env = SignedManifest(SampleManifest("classifier"), w.release.seed);
  ExpectDenied(
      VerifyManifest(env, w.policy, kNow),
      "key " + edge::crypto::Ed25519KeyId(w.release.public_key) + " may not sign model classifier");
}

TEST_CASE("One good signature among bad ones is enough", "[bundle][verify]") {
  World w;
  auto env = SignedManifest(SampleManifest(), w.stranger.seed);
  REQUIRE(SignEnvelope(env, w.release.seed));
  CHECK(VerifyManifest(env, w.policy, kNow));
}

TEST_CASE("Wrong payload type is rejected", "[bundle][verify]") {
  World w;
  auto env = SignedManifest(SampleManifest(), w.release.seed);
  env.payload_type = std::string(kTrustPolicyPayloadType);
  auto r = VerifyManifest(env, w.policy, kNow);
  REQUIRE_FALSE(r);
  CHECK(Contains(r.error().message, "payload type"));
  // A trust policy envelope is not a manifest, and vice versa.
  CHECK_FALSE(VerifyManifest(SignedPolicy(w.policy, w.root.seed), w.policy, kNow));
  CHECK_FALSE(
      VerifyTrustPolicy(SignedManifest(SampleManifest(), w.root.seed), w.root.public_key, kNow));

  // The PAE binds the type: a signature made under another type does not carry over.
  Envelope other{"application/other", SerializeManifest(SampleManifest()), {}};
  REQUIRE(SignEnvelope(other, w.release.seed));
  other.payload_type = std::string(kManifestPayloadType);
  ExpectDenied(VerifyManifest(other, w.policy, kNow), "does not verify");
}

TEST_CASE("Expired manifest is rejected", "[bundle][verify]") {
  World w;
  Manifest m = SampleManifest();
  m.expires = kNow + 10;
  auto env = SignedManifest(m, w.release.seed);
  CHECK(VerifyManifest(env, w.policy, kNow + 9));
  auto expired = VerifyManifest(env, w.policy, kNow + 10);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().code == ErrorCode::kFailedPrecondition);
  CHECK(Contains(expired.error().message, "expired"));
}

TEST_CASE("Expired trust policy verifies no manifest", "[bundle][verify]") {
  World w;
  auto env = SignedManifest(SampleManifest(), w.release.seed);
  auto r = VerifyManifest(env, w.policy, *w.policy.expires);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kFailedPrecondition);
  CHECK(Contains(r.error().message, "trust policy v7 expired"));
}

TEST_CASE("Signed but malformed manifest is an invalid argument", "[bundle][verify]") {
  World w;
  Envelope env{std::string(kManifestPayloadType), R"({"schema":1,"name":"detector"})", {}};
  REQUIRE(SignEnvelope(env, w.release.seed));
  auto r = VerifyManifest(env, w.policy, kNow);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kInvalidArgument);
}

TEST_CASE("Trust policy signed by the root verifies, by anyone else does not", "[bundle][trust]") {
  World w;
  auto good = VerifyTrustPolicy(SignedPolicy(w.policy, w.root.seed), w.root.public_key, kNow);
  REQUIRE(good);

  auto by_release =
      VerifyTrustPolicy(SignedPolicy(w.policy, w.release.seed), w.root.public_key, kNow);
  REQUIRE_FALSE(by_release);
  CHECK(by_release.error().code == ErrorCode::kPermissionDenied);
  CHECK(Contains(by_release.error().message, "not the release root key"));

  auto forged = SignedPolicy(w.policy, w.release.seed);
  forged.signatures[0].key_id = edge::crypto::Ed25519KeyId(w.root.public_key);
  auto r = VerifyTrustPolicy(forged, w.root.public_key, kNow);
  REQUIRE_FALSE(r);
  CHECK(Contains(r.error().message, "does not verify"));

  Envelope unsigned_env{std::string(kTrustPolicyPayloadType), SerializeTrustPolicy(w.policy), {}};
  auto u = VerifyTrustPolicy(unsigned_env, w.root.public_key, kNow);
  REQUIRE_FALSE(u);
  CHECK(Contains(u.error().message, "unsigned"));

  auto expired = VerifyTrustPolicy(SignedPolicy(w.policy, w.root.seed), w.root.public_key,
                                   *w.policy.expires + 1);
  REQUIRE_FALSE(expired);
  CHECK(expired.error().code == ErrorCode::kFailedPrecondition);
}

TEST_CASE("Trust policy parsing is strict", "[bundle][trust]") {
  World w;
  auto base = nlohmann::json::parse(SerializeTrustPolicy(w.policy));
  auto reject = [](const nlohmann::json& doc, const std::string& expect) {
    auto p = ParseTrustPolicy(doc.dump());
    REQUIRE_FALSE(p);
    INFO(p.error().message);
    CHECK(p.error().code == ErrorCode::kInvalidArgument);
    CHECK(Contains(p.error().message, expect));
  };
  auto round = ParseTrustPolicy(base.dump());
  REQUIRE(round);
  CHECK(round->expires == w.policy.expires);
  CHECK(round->keys[0].models == std::vector<std::string>{"detector"});

  auto doc = base;
  doc["keys"][0]["id"] = edge::crypto::Ed25519KeyId(w.stranger.public_key);
  reject(doc, "does not match the public key");
  doc = base;
  doc["keys"][0]["public_key"] = edge::crypto::Base64Encode("short");
  reject(doc, "32-byte");
  doc = base;
  doc["keys"][0]["models"] = {"../etc"};
  reject(doc, "models");
  doc = base;
  doc["keys"][0]["models"] = {"a/b"};
  reject(doc, "models");
  doc = base;
  doc["keys"][1] = doc["keys"][0];
  reject(doc, "duplicate key");
  doc = base;
  doc["admin"] = true;
  reject(doc, "unknown field 'admin'");
  doc = base;
  doc["keys"][0]["role"] = "root";
  reject(doc, "unknown field 'role'");
  doc = base;
  doc["schema"] = 2;
  reject(doc, "schema");
  doc = base;
  doc["fleet"] = "a/b";
  reject(doc, "fleet");
  doc = base;
  doc["keys"][0].erase("models");
  reject(doc, "models");
}

// Release-key rotation: the agent verifies a manifest against the policy it holds when it
// accepts the target and again at its verify step, right before install (agent_app.cpp,
// HandleTarget and UpdateAction::kVerify). So once a policy without the key is adopted, a
// bundle signed only by that key stops installing, even one already downloaded.
TEST_CASE("A manifest signed by a key removed in the next policy verifies under the old one only",
          "[bundle][verify][rotation]") {
  World w;
  auto env = SignedManifest(SampleManifest(), w.release.seed);
  REQUIRE(VerifyManifest(env, w.policy, kNow));

  TrustPolicy next = w.policy;
  next.version = 8;
  next.keys.erase(next.keys.begin());  // drop `release`, keep `wildcard`
  auto next_env = ParseEnvelope(SerializeEnvelope(SignedPolicy(next, w.root.seed)));
  REQUIRE(next_env);
  auto adopted = VerifyTrustPolicy(*next_env, w.root.public_key, kNow);
  REQUIRE(adopted);
  ExpectDenied(VerifyManifest(env, *adopted, kNow), "which is not in trust policy v8");
  // Bundles co-signed by a key that stays keep installing.
  auto cosigned = SignedManifest(SampleManifest(), w.release.seed);
  REQUIRE(SignEnvelope(cosigned, w.wildcard.seed));
  CHECK(VerifyManifest(cosigned, *adopted, kNow));
}

TEST_CASE("VerifyTrustPolicySignature checks the root's signature but not the expiry", "[bundle][trust]") {
  World w;
  auto env = SignedPolicy(w.policy, w.root.seed);
  auto p = VerifyTrustPolicySignature(env, w.root.public_key);
  REQUIRE(p);
  CHECK(p->version == 7);
  REQUIRE_FALSE(VerifyTrustPolicy(env, w.root.public_key, *w.policy.expires));
  auto by_release = VerifyTrustPolicySignature(SignedPolicy(w.policy, w.release.seed), w.root.public_key);
  REQUIRE_FALSE(by_release);
  CHECK(by_release.error().code == ErrorCode::kPermissionDenied);
}
