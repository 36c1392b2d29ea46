#include <catch2/catch.hpp>

#include "common/bundle/bundle.h"

using namespace edge::bundle;
using namespace edge::crypto;

TEST_CASE("Smoke: sign and verify a manifest", "[bundle]") {
  auto root = GenerateEd25519();
  auto release = GenerateEd25519();
  REQUIRE(root);
  REQUIRE(release);
  TrustPolicy policy;
  policy.fleet = "acme";
  policy.version = 1;
  policy.keys.push_back({Ed25519KeyId(release->public_key), release->public_key, {"*"}});
  Envelope policy_env{std::string(kTrustPolicyPayloadType), SerializeTrustPolicy(policy), {}};
  REQUIRE(SignEnvelope(policy_env, root->seed));
  auto policy_env2 = ParseEnvelope(SerializeEnvelope(policy_env));
  REQUIRE(policy_env2);
  auto verified_policy = VerifyTrustPolicy(*policy_env2, root->public_key, 1000);
  INFO((verified_policy ? "" : verified_policy.error().message));
  REQUIRE(verified_policy);

  Manifest m;
  m.name = "detector";
  m.version = "1.0.0";
  m.security_version = 3;
  m.blobs.push_back({"model", std::string(64, 'a'), 10, "application/octet-stream"});
  Envelope env{std::string(kManifestPayloadType), SerializeManifest(m), {}};
  REQUIRE(SignEnvelope(env, release->seed));
  auto env2 = ParseEnvelope(SerializeEnvelope(env));
  REQUIRE(env2);
  auto verified = VerifyManifest(*env2, *verified_policy, 1000);
  INFO((verified ? "" : verified.error().message));
  REQUIRE(verified);
  CHECK(verified->name == "detector");
  CHECK(verified->security_version == 3);
}
