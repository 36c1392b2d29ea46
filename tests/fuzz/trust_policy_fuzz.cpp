// The trust policy parser, on its own and behind VerifyTrustPolicy: the target signs the fuzz
// bytes with the fixed root key, so the parse and expiry checks after signature verification
// are reached. Seeds and the dictionary carry the fixed keys' ids and public keys, so a
// mutated policy can still name a real key. Properties: a policy that parses survives
// Serialize + Parse unchanged, every key id matches its public key, and a root-signed policy
// that parses is refused only when it has expired.
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"

using namespace edge;
using namespace edge::bundle;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto text = fuzz::AsText(data, size);
  auto policy = ParseTrustPolicy(text);
  if (!policy) return 0;

  for (const auto& key : policy->keys)
    if (key.id != crypto::Ed25519KeyId(key.public_key)) fuzz::Die("a key id does not match its public key", key.id);
  const std::string serialized = SerializeTrustPolicy(*policy);
  auto again = ParseTrustPolicy(serialized);
  if (!again) fuzz::Die("a serialized trust policy does not parse", again.error().message);
  if (SerializeTrustPolicy(*again) != serialized) fuzz::Die("Serialize + Parse changed the trust policy");

  const auto envelope = fuzz::SignedEnvelope(kTrustPolicyPayloadType, text, fuzz::RootKey());
  auto verified = VerifyTrustPolicy(envelope, fuzz::RootKey().public_key, fuzz::kNow);
  const bool expired = policy->expires && fuzz::kNow >= *policy->expires;
  if (verified.has_value() == expired)
    fuzz::Die("VerifyTrustPolicy disagrees with the parsed policy's expiry",
              verified ? "accepted an expired policy" : verified.error().message);
  if (verified && SerializeTrustPolicy(*verified) != serialized) fuzz::Die("VerifyTrustPolicy returned another policy");

  // The parsed policy as the one manifests are checked against: a manifest signed by the fixed
  // release key verifies exactly when that key is in the policy for the model.
  static const auto manifest = fuzz::SignedEnvelope(kManifestPayloadType,
                                                    R"({"schema":1,"name":"detector","version":"1","security_version":1,)"
                                                    R"("blobs":[{"role":"model","digest":")" +
                                                        std::string(64, 'a') + R"(","size":1}]})",
                                                    fuzz::ReleaseKey());
  (void)VerifyManifest(manifest, *policy, fuzz::kNow);
  return 0;
}
