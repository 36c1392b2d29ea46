// Single-file bundles for air-gapped sites (DESIGN §5): one POSIX ustar archive holding exactly
//   envelope.json              the signed envelope, byte for byte
//   blobs/sha256/<digest>      every blob of the manifest, in the manifest's order
// then the two zero blocks that end an archive. Nothing else: no directories, links, pax or GNU
// headers, and no trailing record padding. The format is this narrow on purpose: the reader
// accepts only what the writer produces, so there is little for a hostile file to play with.
//
// The reader parses the envelope and the manifest but does not check signatures: that needs
// the caller's trust policy. It reads in two steps (Open, then ImportBlobs) so the caller can
// verify the envelope before a single blob byte is written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/bundle/bundle.h"
#include "common/core/result.h"

namespace edge::bundle {

inline constexpr std::string_view kBundleFileEnvelopeName = "envelope.json";
inline constexpr std::string_view kBundleFileBlobPrefix = "blobs/sha256/";

// Where the writer finds the bytes of the blob with this sha256.
using BlobSourceFn = std::function<std::filesystem::path(const std::string& digest)>;

// Writes the bundle file to a temp file beside `out`, fsyncs it, renames it over `out` and
// fsyncs the directory. Refuses envelope bytes that do not parse, exceed kMaxEnvelopeBytes or
// carry another blob list than `manifest`, and a blob whose size or sha256 differs from the
// manifest (checked while copying). Same inputs, same bytes: mtime, uid and gid are 0.
Status WriteBundleFile(const std::string& envelope_bytes, const Manifest& manifest,
                       const BlobSourceFn& blob_source, const std::filesystem::path& out);

struct ReadLimits {
  uint64_t max_envelope_bytes = kMaxEnvelopeBytes;
  uint64_t max_total_blob_bytes = uint64_t{64} << 30;  // sum of the manifest's blob sizes
};

struct BlobImportCounts {
  int written = 0;  // new in blob_dir, or replacing a file there that did not verify
  int present = 0;  // already in blob_dir with the right size and digest: left untouched
};

// A bundle file opened for reading: the envelope is read and parsed, the blobs are not yet.
class BundleFileReader {
 public:
  // Reads the first entry, which must be envelope.json (at most limits.max_envelope_bytes),
  // and parses the envelope and the manifest in it. No signature check.
  static Result<BundleFileReader> Open(const std::filesystem::path& file, const ReadLimits& limits = {});
  BundleFileReader(BundleFileReader&&) noexcept;
  BundleFileReader& operator=(BundleFileReader&&) noexcept;
  ~BundleFileReader();

  const std::string& envelope_bytes() const { return envelope_bytes_; }
  const Envelope& envelope() const { return envelope_; }
  const Manifest& manifest() const { return manifest_; }

  // Reads the rest of the file: one entry per manifest blob, in order, each streamed into
  // blob_dir/<digest>.partial while its sha256 is computed, then renamed to blob_dir/<digest>.
  // A blob already in blob_dir that verifies is not rewritten. On any error, names the problem
  // and leaves no .partial file; the blobs this call wrote are removed again. A blob already in
  // blob_dir is touched only when it fails verification: then it is replaced (or, on error,
  // removed). Writes nowhere but blob_dir. Call once.
  Result<BlobImportCounts> ImportBlobs(const std::filesystem::path& blob_dir);
  // The same checks as ImportBlobs, writing nothing. Call once, instead of ImportBlobs.
  Status VerifyBlobs();

 private:
  struct Stream;
  BundleFileReader(std::unique_ptr<Stream> stream, std::string envelope_bytes, Envelope envelope,
                   Manifest manifest);
  Result<BlobImportCounts> ReadBlobs(const std::filesystem::path* blob_dir);
  Result<bool> ReadBlob(const BlobRef& ref, const std::filesystem::path* blob_dir);  // true: written

  std::unique_ptr<Stream> stream_;
  std::string envelope_bytes_;
  Envelope envelope_;
  Manifest manifest_;
};

struct ImportedBundle {
  std::string envelope_bytes;
  Envelope envelope;
  Manifest manifest;  // parsed, signatures NOT checked
  BlobImportCounts blobs;
};

// Open + ImportBlobs in one call, for callers that verify the envelope afterwards (or never).
// A caller that holds a trust policy should use BundleFileReader and verify before importing.
Result<ImportedBundle> ReadBundleFile(const std::filesystem::path& file, const std::filesystem::path& blob_dir,
                                      const ReadLimits& limits = {});

}  // namespace edge::bundle
