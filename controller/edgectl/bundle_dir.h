// A bundle on disk, as built by `edgectl bundle build`:
//   DIR/manifest.json        the manifest payload (exact bytes that get signed)
//   DIR/envelope.json        the signed envelope (after `edgectl bundle sign`)
//   DIR/blobs/<sha256>       content-addressed blobs
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/bundle/bundle.h"
#include "common/core/result.h"

namespace edge::edgectl {

struct BlobInput {
  std::string role;
  std::filesystem::path path;
  std::string media_type;
};

struct BundleBuildOptions {
  std::string name;
  std::string version;
  uint64_t security_version = 0;
  std::vector<BlobInput> blobs;
  std::filesystem::path out;
  std::string created;  // RFC 3339
  bundle::HealthSpec health;
};

Result<bundle::Manifest> BuildBundle(const BundleBuildOptions& options);
// Adds a signature to DIR/envelope.json (creating it from DIR/manifest.json if absent).
Result<std::string> SignBundle(const std::filesystem::path& dir, const std::filesystem::path& key_file);

struct VerifiedBundle {
  bundle::Manifest manifest;
  std::string envelope_bytes;
  bundle::TrustPolicy policy;
};
// Verifies the trust policy against the root key, the envelope against the policy, and every
// blob file against the manifest.
Result<VerifiedBundle> VerifyBundle(const std::filesystem::path& dir, const std::filesystem::path& trust_policy,
                                    const std::filesystem::path& root_key, int64_t now);
// Reads DIR/envelope.json and the manifest inside it without verifying (for push: the
// controller verifies).
Result<std::pair<std::string, bundle::Manifest>> ReadSignedBundle(const std::filesystem::path& dir);

}  // namespace edge::edgectl
