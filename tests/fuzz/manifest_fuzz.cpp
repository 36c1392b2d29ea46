// The manifest parser, on its own and behind VerifyManifest. The fuzz bytes are the payload;
// the target signs them with the fixed release key so that the parser, the key-may-sign check
// and the expiry check after signature verification are reached (a fuzzer cannot forge an
// Ed25519 signature). Properties: a manifest that parses survives Serialize + Parse unchanged,
// and the verifier refuses a correctly signed manifest only for permission or expiry.
#include <cstdint>

#include "tests/fuzz/fuzz_support.h"

using namespace edge;
using namespace edge::bundle;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto text = fuzz::AsText(data, size);
  auto manifest = ParseManifest(text);
  if (!manifest) return 0;

  const std::string serialized = SerializeManifest(*manifest);
  // Serializing may lengthen numbers ("1e9" -> "1000000000.0"); only a result within the size
  // limit must parse again.
  if (serialized.size() <= kMaxEnvelopeBytes) {
    auto again = ParseManifest(serialized);
    if (!again) fuzz::Die("a serialized manifest does not parse", again.error().message);
    if (SerializeManifest(*again) != serialized) fuzz::Die("Serialize + Parse changed the manifest");
  }
  if (FindBlob(*manifest, "model") == nullptr) fuzz::Die("a parsed manifest has no model blob");

  // Alternate the two keys: "detector" and "kws" only, or any model.
  const auto& key = (size % 2 == 0) ? fuzz::ReleaseKey() : fuzz::WildcardKey();
  const auto envelope = fuzz::SignedEnvelope(kManifestPayloadType, text, key);
  auto verified = VerifyManifest(envelope, fuzz::Policy(), fuzz::kNow);
  if (verified) {
    if (SerializeManifest(*verified) != serialized) fuzz::Die("VerifyManifest returned another manifest");
  } else if (verified.error().code != ErrorCode::kPermissionDenied &&
             verified.error().code != ErrorCode::kFailedPrecondition) {
    fuzz::Die("VerifyManifest refused a signed, parseable manifest for another reason", verified.error().message);
  }
  (void)CheckSecurityFloor(*manifest, 5);
  return 0;
}
