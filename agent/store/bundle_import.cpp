#include "agent/store/bundle_import.h"

#include "common/crypto/sha256.h"

namespace edge::agent {

Result<ImportResult> ImportBundleFile(const std::filesystem::path& file, ModelRepo& repo,
                                      const bundle::TrustPolicy& policy, int64_t now_unix) {
  EDGE_ASSIGN_OR_RETURN(auto reader, bundle::BundleFileReader::Open(file));
  // Nothing signed, nothing written: an unsigned or untrusted file cannot put bytes on disk.
  auto manifest = bundle::VerifyManifest(reader.envelope(), policy, now_unix);
  if (!manifest) return Fail(manifest.error().Wrap("bundle file " + file.string()));
  EDGE_TRY(repo.Prepare());
  EDGE_ASSIGN_OR_RETURN(auto blobs, reader.ImportBlobs(repo.BlobDir()));
  return ImportResult{reader.envelope_bytes(), crypto::Sha256Hex(reader.envelope_bytes()), std::move(*manifest), blobs};
}

}  // namespace edge::agent
