// Installing from a single bundle file (`edge-agent install FILE`, DESIGN §5): the air-gapped
// path into the same blob store the controller's downloads fill.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "agent/store/model_repo.h"
#include "common/bundle/bundle.h"
#include "common/bundle/bundle_file.h"
#include "common/core/result.h"

namespace edge::agent {

struct ImportResult {
  std::string envelope_bytes;
  std::string envelope_digest;  // sha256 hex of envelope_bytes: the agent's target digest
  bundle::Manifest manifest;    // verified against the trust policy
  bundle::BlobImportCounts blobs;
};

// Verifies the envelope in `file` against `policy` at `now_unix` (bundle::VerifyManifest, the
// check a controller-delivered envelope gets) before a single blob byte is written, then
// imports the blobs into the repo's blob directory, each size- and sha256-checked. A refused
// file leaves the blob directory as it was. Does not check the anti-rollback floor, install or
// activate: the caller hands the envelope to the update machine, which does all of that.
Result<ImportResult> ImportBundleFile(const std::filesystem::path& file, ModelRepo& repo,
                                      const bundle::TrustPolicy& policy, int64_t now_unix);

}  // namespace edge::agent
