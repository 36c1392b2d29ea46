// Signature and policy checks. Order: payload type, then signatures over the exact payload
// bytes, and only then parsing, so unauthenticated input never reaches the JSON parser beyond
// the envelope itself.
#include <algorithm>

#include "common/bundle/bundle.h"

namespace edge::bundle {
namespace {

Status CheckPayloadType(const Envelope& envelope, std::string_view expected,
                        std::string_view what) {
  if (envelope.payload_type != expected) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": payload type '" +
                                                 envelope.payload_type.substr(0, 128) +
                                                 "' is not '" + std::string(expected) + "'");
  }
  return Ok();
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) {
      out += "; ";
    }
    out += p;
  }
  return out;
}

std::string PrintableKeyId(std::string_view id) {
  std::string out;
  for (char c : id.substr(0, 80)) {
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

bool KeyMaySign(const TrustedKey& key, std::string_view model) {
  return std::any_of(key.models.begin(), key.models.end(),
                     [&](const std::string& m) { return m == "*" || m == model; });
}

}  // namespace

Result<TrustPolicy> VerifyTrustPolicySignature(const Envelope& envelope,
                                               const crypto::Ed25519PublicKey& root) {
  constexpr std::string_view kWhat = "trust policy";
  EDGE_TRY(CheckPayloadType(envelope, kTrustPolicyPayloadType, kWhat));
  if (envelope.signatures.empty()) {
    return Fail(ErrorCode::kPermissionDenied, "trust policy: unsigned (no signatures)");
  }
  const std::string root_id = crypto::Ed25519KeyId(root);
  const std::string pae = PreAuthEncoding(envelope.payload_type, envelope.payload);
  std::vector<std::string> problems;
  bool verified = false;
  for (const auto& sig : envelope.signatures) {
    if (sig.key_id != root_id) {
      problems.push_back("signed by key " + PrintableKeyId(sig.key_id) +
                         " which is not the release root key " + root_id);
    } else if (!crypto::Ed25519Verify(root, pae, sig.sig)) {
      problems.push_back("signature by " + root_id + " does not verify");
    } else {
      verified = true;
      break;
    }
  }
  if (!verified) {
    return Fail(ErrorCode::kPermissionDenied, "trust policy: " + Join(problems));
  }
  return ParseTrustPolicy(envelope.payload);
}

Result<TrustPolicy> VerifyTrustPolicy(const Envelope& envelope,
                                      const crypto::Ed25519PublicKey& root, int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto policy, VerifyTrustPolicySignature(envelope, root));
  if (policy.expires && now >= *policy.expires) {
    return Fail(ErrorCode::kFailedPrecondition,
                "trust policy v" + std::to_string(policy.version) + " expired at " +
                    std::to_string(*policy.expires) + " (now " + std::to_string(now) + ")");
  }
  return policy;
}

Result<Manifest> VerifyManifest(const Envelope& envelope, const TrustPolicy& policy, int64_t now) {
  EDGE_TRY(CheckPayloadType(envelope, kManifestPayloadType, "manifest"));
  const std::string policy_name = "trust policy v" + std::to_string(policy.version);
  if (policy.expires && now >= *policy.expires) {
    return Fail(ErrorCode::kFailedPrecondition, policy_name + " expired at " +
                                                    std::to_string(*policy.expires) + " (now " +
                                                    std::to_string(now) + ")");
  }
  if (envelope.signatures.empty()) {
    return Fail(ErrorCode::kPermissionDenied, "manifest: unsigned (no signatures)");
  }
  const std::string pae = PreAuthEncoding(envelope.payload_type, envelope.payload);
  std::vector<std::string> problems;
  std::vector<const TrustedKey*> verified_keys;
  for (const auto& sig : envelope.signatures) {
    auto key = std::find_if(policy.keys.begin(), policy.keys.end(),
                            [&](const TrustedKey& k) { return k.id == sig.key_id; });
    if (key == policy.keys.end()) {
      problems.push_back("signed by key " + PrintableKeyId(sig.key_id) + " which is not in " +
                         policy_name);
    } else if (!crypto::Ed25519Verify(key->public_key, pae, sig.sig)) {
      problems.push_back("signature by " + key->id + " does not verify");
    } else {
      verified_keys.push_back(&*key);
    }
  }
  if (verified_keys.empty()) {
    return Fail(ErrorCode::kPermissionDenied, "manifest: " + Join(problems));
  }

  EDGE_ASSIGN_OR_RETURN(auto manifest, ParseManifest(envelope.payload));
  const bool allowed =
      std::any_of(verified_keys.begin(), verified_keys.end(),
                  [&](const TrustedKey* k) { return KeyMaySign(*k, manifest.name); });
  if (!allowed) {
    for (const auto* k : verified_keys) {
      problems.push_back("key " + k->id + " may not sign model " + manifest.name);
    }
    return Fail(ErrorCode::kPermissionDenied, "manifest: " + Join(problems));
  }
  if (manifest.expires && now >= *manifest.expires) {
    return Fail(ErrorCode::kFailedPrecondition,
                "manifest " + manifest.name + " " + manifest.version + " expired at " +
                    std::to_string(*manifest.expires) + " (now " + std::to_string(now) + ")");
  }
  return manifest;
}

Status CheckSecurityFloor(const Manifest& manifest, uint64_t floor) {
  if (manifest.security_version < floor) {
    return Fail(ErrorCode::kFailedPrecondition,
                "model " + manifest.name + " " + manifest.version + ": security_version " +
                    std::to_string(manifest.security_version) +
                    " is below the anti-rollback floor " + std::to_string(floor));
  }
  return Ok();
}

}  // namespace edge::bundle
