// DSSE envelopes as they arrive from the controller, a bundle file or `edgectl bundle verify`:
// ParseEnvelope, then both verifiers against the fixed root key and trust policy. Seeds are
// envelopes signed by those keys, so mutations of the type and signature list reach past the
// key lookup. Properties: a parsed envelope survives Serialize + Parse unchanged, and a
// verifier that accepts returns what the payload parses to.
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"

using namespace edge;
using namespace edge::bundle;

namespace {

bool SameEnvelope(const Envelope& a, const Envelope& b) {
  if (a.payload_type != b.payload_type || a.payload != b.payload || a.signatures.size() != b.signatures.size())
    return false;
  for (size_t i = 0; i < a.signatures.size(); ++i)
    if (a.signatures[i].key_id != b.signatures[i].key_id || a.signatures[i].sig != b.signatures[i].sig) return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto env = ParseEnvelope(fuzz::AsText(data, size));
  if (!env) return 0;

  auto again = ParseEnvelope(SerializeEnvelope(*env));
  if (!again) fuzz::Die("a serialized envelope does not parse", again.error().message);
  if (!SameEnvelope(*env, *again)) fuzz::Die("Serialize + Parse changed the envelope");

  if (auto policy = VerifyTrustPolicy(*env, fuzz::RootKey().public_key, fuzz::kNow)) {
    auto parsed = ParseTrustPolicy(env->payload);
    if (!parsed || SerializeTrustPolicy(*parsed) != SerializeTrustPolicy(*policy))
      fuzz::Die("VerifyTrustPolicy accepted a payload that does not parse to the same policy");
  }
  if (auto manifest = VerifyManifest(*env, fuzz::Policy(), fuzz::kNow)) {
    auto parsed = ParseManifest(env->payload);
    if (!parsed || SerializeManifest(*parsed) != SerializeManifest(*manifest))
      fuzz::Die("VerifyManifest accepted a payload that does not parse to the same manifest");
    (void)CheckSecurityFloor(*manifest, 5);
  }
  return 0;
}
