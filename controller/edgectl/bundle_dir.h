// A bundle on disk, as built by `edgectl bundle build`:
//   DIR/manifest.json        the manifest payload (exact bytes that get signed)
//   DIR/envelope.json        the signed envelope (after `edgectl bundle sign`)
//   DIR/blobs/<sha256>       content-addressed blobs
// and its single-file form for air-gapped sites (common/bundle/bundle_file.h), made by
// `edgectl bundle export`.
#pragma once

#include <filesystem>
#include <optional>
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
  // Off only to build bundles that test the devices' own health gate (--skip-model-checks).
  bool check_model = true;
  // Measured int8 quality to record in the manifest (bundle_quality.h); none: no "quality" key.
  std::optional<bundle::QualityRecord> quality;
};

// Unless check_model is off, first runs the health gate's load and self-test steps on the
// "model" and "selftest" blobs (runtime::PreflightModel, within health.selftest_tolerance) and
// refuses what a device would refuse, naming the file and the problem. On any error nothing is
// left in `out`: a directory this call created is removed, blobs it copied into one that
// existed are deleted again.
Result<bundle::Manifest> BuildBundle(const BundleBuildOptions& options);
// Adds a signature to DIR/envelope.json (creating it from DIR/manifest.json if absent).
Result<std::string> SignBundle(const std::filesystem::path& dir, const std::filesystem::path& key_file);

struct VerifiedBundle {
  bundle::Manifest manifest;
  std::string envelope_bytes;
  bundle::TrustPolicy policy;
};
// Verifies the trust policy against the root key, the envelope against the policy, and every
// blob against the manifest, then runs the health gate's load and self-test steps on the model
// and self-test blobs, as a device would before serving the version. `bundle` is a bundle
// directory or an exported bundle file; a file's blobs are checked as they stream past into a
// temporary directory, removed again before this returns.
Result<VerifiedBundle> VerifyBundle(const std::filesystem::path& bundle, const std::filesystem::path& trust_policy,
                                    const std::filesystem::path& root_key, int64_t now);

struct ExportedBundle {
  bundle::Manifest manifest;
  uint64_t bytes = 0;  // size of the file written
};
// Writes the signed bundle directory `dir` as one file at `out` (atomically). Refuses an
// unsigned bundle: no agent would install it. Each blob's size and sha256 are checked on the way.
Result<ExportedBundle> ExportBundle(const std::filesystem::path& dir, const std::filesystem::path& out);
// Reads DIR/envelope.json and the manifest inside it without verifying (for push: the
// controller verifies).
Result<std::pair<std::string, bundle::Manifest>> ReadSignedBundle(const std::filesystem::path& dir);

}  // namespace edge::edgectl
