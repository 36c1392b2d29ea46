// Signed model bundles (DESIGN §5): a manifest signed inside a DSSE-style envelope, plus
// content-addressed blobs. Everything here is pure: no files except CheckBlobFile, no clock
// (callers pass `now`), no network.
//
// Verification order matters: the envelope's signature is checked over the exact payload
// bytes first; only a verified payload is parsed, and parsing is depth- and size-limited.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/result.h"
#include "common/crypto/ed25519.h"

namespace edge::bundle {

inline constexpr std::string_view kManifestPayloadType =
    "application/vnd.edgefleet.manifest.v1+json";
inline constexpr std::string_view kTrustPolicyPayloadType =
    "application/vnd.edgefleet.trust-policy.v1+json";
inline constexpr size_t kMaxEnvelopeBytes = 1 << 20;  // 1 MiB
inline constexpr int kMaxJsonDepth = 32;

// Rejects JSON nested deeper than `max_depth` ([ and { outside strings) before any parser sees it.
Status CheckJsonDepth(std::string_view json, int max_depth = kMaxJsonDepth);
// Parses with the depth check and size limit; error names `what`.
Result<nlohmann::json> ParseJsonLimited(std::string_view json, std::string_view what,
                                        size_t max_bytes = kMaxEnvelopeBytes);

struct Signature {
  std::string key_id;
  crypto::Ed25519Signature sig{};
};

struct Envelope {
  std::string payload_type;
  std::string payload;  // exact signed bytes
  std::vector<Signature> signatures;
};

// DSSE pre-authentication encoding: "DSSEv1" SP len(type) SP type SP len(body) SP body.
std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload);
// JSON form: {"payloadType":..., "payload": base64, "signatures":[{"keyid":..., "sig": base64}]}
Result<Envelope> ParseEnvelope(std::string_view json);
std::string SerializeEnvelope(const Envelope& envelope);
// Appends a signature by `seed` (key id derived from its public key).
Status SignEnvelope(Envelope& envelope, const crypto::Ed25519Seed& seed);

struct BlobRef {
  std::string role;    // "model", "selftest", "labels", ...
  std::string digest;  // lower-case hex sha256
  uint64_t size = 0;
  std::string media_type;
};

struct HealthSpec {
  double selftest_tolerance = 0.0;
  uint64_t latency_budget_us = 0;  // p99; 0 = none
  uint64_t soak_seconds = 0;
  uint32_t max_tries = 1;
};

struct Compat {
  std::string arch;                       // e.g. "x86_64", empty = any
  std::vector<std::string> cpu_features;  // required
  uint32_t min_engine_abi = 0;
};

// int8 quality measured at build time against an fp32 reference model on held-out samples
// (`edgectl bundle build --eval-data --reference-model`). Optional: a bundle built without
// it has no "quality" key, and its manifest bytes are what they were before the field existed.
struct OutputQualityFigures {
  std::string output;                     // the model's output name
  std::optional<double> top1_agreement;   // 0..1, only for outputs that look like class scores
  double cosine = 0.0;
  std::optional<double> snr_db;           // absent: the outputs were identical (infinite SNR)
  double max_abs_error = 0.0;
};
struct QualityRecord {
  std::string reference_digest;  // sha256 of the fp32 reference model
  std::string eval_digest;       // sha256 of the eval data file
  uint64_t samples = 0;
  std::vector<OutputQualityFigures> outputs;
};

struct Manifest {
  std::string name;
  std::string version;
  uint64_t security_version = 0;
  std::string created;             // RFC 3339
  std::optional<int64_t> expires;  // unix seconds
  Compat compat;
  std::vector<BlobRef> blobs;
  nlohmann::json io = nlohmann::json::object();
  HealthSpec health;
  std::optional<QualityRecord> quality;
};

// Strict: unknown keys, wrong types, bad names/digests, duplicate blob digests, sizes over
// 4 GiB, or no "model" blob are errors naming the field.
Result<Manifest> ParseManifest(std::string_view json);
std::string SerializeManifest(const Manifest& manifest);
const BlobRef* FindBlob(const Manifest& manifest, std::string_view role);
// The manifest inside an envelope, its signature NOT checked: for an envelope verified when it
// was accepted (and stored since), or to name what a refusal is about.
Result<Manifest> UnverifiedManifest(std::string_view envelope_json);

struct TrustedKey {
  std::string id;
  crypto::Ed25519PublicKey public_key{};
  std::vector<std::string> models;  // model names this key may sign; "*" = any
};

struct TrustPolicy {
  std::string fleet;
  uint64_t version = 0;
  std::optional<int64_t> expires;  // unix seconds
  std::vector<TrustedKey> keys;
};

Result<TrustPolicy> ParseTrustPolicy(std::string_view json);
std::string SerializeTrustPolicy(const TrustPolicy& policy);

// Verifies `envelope` is a trust policy signed by `root` and parses it strictly; expiry is NOT
// checked. Only for a policy already adopted, whose expiry the caller handles (an agent's stored
// policy: expired, it still lets the agent start and serve, but it installs nothing).
Result<TrustPolicy> VerifyTrustPolicySignature(const Envelope& envelope,
                                               const crypto::Ed25519PublicKey& root);
// Verifies `envelope` is a trust policy signed by `root`, not expired at `now`.
Result<TrustPolicy> VerifyTrustPolicy(const Envelope& envelope,
                                      const crypto::Ed25519PublicKey& root, int64_t now);
// Verifies `envelope` carries a manifest signed by a policy key allowed to sign that model's
// name, and that the manifest has not expired at `now`. Returns the parsed manifest.
Result<Manifest> VerifyManifest(const Envelope& envelope, const TrustPolicy& policy, int64_t now);
// Anti-rollback: a manifest below the model's floor is refused.
Status CheckSecurityFloor(const Manifest& manifest, uint64_t floor);

// Checks that the file at `path` has exactly `ref.size` bytes and sha256 `ref.digest`.
// Names the problem: missing, truncated (shorter), too long, or digest mismatch.
Status CheckBlobFile(const BlobRef& ref, const std::filesystem::path& path);

}  // namespace edge::bundle
