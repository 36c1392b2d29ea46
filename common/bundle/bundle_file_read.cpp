// BundleFileReader: the importing side of bundle_file.h. Everything in the file is hostile until
// checked: each entry's name and size are checked against the manifest before any of its bytes
// are read, blobs are streamed through a fixed buffer, and a blob reaches its final name only
// after its sha256 matched.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "common/bundle/bundle_file.h"
#include "common/bundle/ustar.h"
#include "common/core/posix_file.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"

namespace edge::bundle {
namespace {

namespace stdfs = std::filesystem;
using fs::Fsync;
using fs::PosixError;
using fs::ReadSome;
using fs::UniqueFd;
using fs::WriteAll;

std::string EntryName(const BlobRef& ref) { return std::string(kBundleFileBlobPrefix) + ref.digest; }

std::string Describe(const BlobRef& ref) { return "blob " + ref.role + " (" + ref.digest.substr(0, 16) + ")"; }

// Which manifest blob an entry found where blob `next` belongs is, or why it is refused.
Result<const BlobRef*> ExpectedBlob(const Manifest& manifest, size_t next, const std::string& name, uint64_t at) {
  const std::string entry = "entry '" + ustar::Printable(name) + "' at offset " + std::to_string(at);
  if (name == kBundleFileEnvelopeName) return Fail(ErrorCode::kDataLoss, "duplicate " + entry);
  if (!name.starts_with(kBundleFileBlobPrefix))
    return Fail(ErrorCode::kDataLoss, "unknown " + entry + " (a bundle file holds only envelope.json and blobs/sha256/<digest>)");
  const auto digest = std::string_view(name).substr(kBundleFileBlobPrefix.size());
  const auto it = std::find_if(manifest.blobs.begin(), manifest.blobs.end(), [&](const BlobRef& b) { return b.digest == digest; });
  if (it == manifest.blobs.end()) return Fail(ErrorCode::kDataLoss, "unknown " + entry + ": not a blob of the manifest");
  const auto index = static_cast<size_t>(it - manifest.blobs.begin());
  if (index < next) return Fail(ErrorCode::kDataLoss, "duplicate " + entry);
  if (index > next)
    return Fail(ErrorCode::kDataLoss, entry + " is out of order: " + Describe(manifest.blobs[next]) +
                                          " comes first (entries follow the manifest's order)");
  return &*it;
}

}  // namespace

struct BundleFileReader::Stream {
  UniqueFd fd;
  stdfs::path path;
  ReadLimits limits;
  uint64_t offset = 0;
  bool blobs_read = false;
  std::vector<char> buffer = std::vector<char>(1 << 16);

  Status ReadExact(char* dst, size_t n, std::string_view inside) {
    for (size_t done = 0; done < n;) {
      EDGE_ASSIGN_OR_RETURN(const size_t got, ReadSome(fd, dst + done, n - done, path));
      if (got == 0)
        return Fail(ErrorCode::kDataLoss, "truncated: the file ends at offset " + std::to_string(offset) + ", inside " +
                                              std::string(inside));
      done += got;
      offset += got;
    }
    return Ok();
  }

  // The next entry's header, or nullopt at the first zero block of the end-of-archive marker.
  Result<std::optional<ustar::EntryHeader>> NextHeader() {
    ustar::Block block;
    const uint64_t at = offset;
    EDGE_ASSIGN_OR_RETURN(const size_t got, ReadSome(fd, block.data(), block.size(), path));
    if (got == 0)
      return Fail(ErrorCode::kDataLoss, at == 0 ? std::string("empty file, not a bundle file")
                                                : "truncated: the file ends at offset " + std::to_string(at) +
                                                      " without the end-of-archive marker");
    offset += got;
    EDGE_TRY(ReadExact(block.data() + got, block.size() - got, "a header block"));
    if (ustar::IsZeroBlock(block)) return std::nullopt;
    EDGE_ASSIGN_OR_RETURN(auto header, ustar::ParseHeader(block, at));
    return header;
  }

  // After the first zero block: the second one, then the end of the file.
  Status ExpectEnd() {
    ustar::Block block;
    EDGE_TRY(ReadExact(block.data(), block.size(), "the end-of-archive marker"));
    if (!ustar::IsZeroBlock(block))
      return Fail(ErrorCode::kDataLoss, "bad end-of-archive marker at offset " + std::to_string(offset - block.size()));
    char extra;
    EDGE_ASSIGN_OR_RETURN(const size_t got, ReadSome(fd, &extra, 1, path));
    if (got != 0)
      return Fail(ErrorCode::kDataLoss, "trailing data after the end-of-archive marker at offset " + std::to_string(offset));
    return Ok();
  }

  // Streams `size` bytes of entry data into `sink` (when valid) and returns their sha256.
  Result<std::string> CopyData(uint64_t size, const UniqueFd& sink, const stdfs::path& sink_path, std::string_view inside) {
    crypto::Sha256 hash;
    for (uint64_t left = size; left > 0;) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(left, buffer.size()));
      EDGE_TRY(ReadExact(buffer.data(), n, inside));
      hash.Update(std::string_view(buffer.data(), n));
      if (sink.valid()) EDGE_TRY(WriteAll(sink, buffer.data(), n, sink_path));
      left -= n;
    }
    EDGE_TRY(SkipPadding(size, inside));
    return crypto::HexEncode(hash.Final());
  }

  Status SkipPadding(uint64_t size, std::string_view inside) {
    ustar::Block pad;
    return ReadExact(pad.data(), ustar::PaddingAfter(size), inside);
  }
};

BundleFileReader::BundleFileReader(std::unique_ptr<Stream> stream, std::string envelope_bytes, Envelope envelope,
                                   Manifest manifest)
    : stream_(std::move(stream)),
      envelope_bytes_(std::move(envelope_bytes)),
      envelope_(std::move(envelope)),
      manifest_(std::move(manifest)) {}
BundleFileReader::BundleFileReader(BundleFileReader&&) noexcept = default;
BundleFileReader& BundleFileReader::operator=(BundleFileReader&&) noexcept = default;
BundleFileReader::~BundleFileReader() = default;

Result<BundleFileReader> BundleFileReader::Open(const std::filesystem::path& file, const ReadLimits& limits) {
  auto opened = [&]() -> Result<BundleFileReader> {
    auto stream = std::make_unique<Stream>();
    stream->path = file;
    stream->limits = limits;
    EDGE_ASSIGN_OR_RETURN(stream->fd, fs::OpenRegularFile(file));

    EDGE_ASSIGN_OR_RETURN(auto header, stream->NextHeader());
    if (!header) return Fail(ErrorCode::kDataLoss, "an empty archive, not a bundle file");
    if (header->name != kBundleFileEnvelopeName)
      return Fail(ErrorCode::kDataLoss, "the first entry is '" + ustar::Printable(header->name) + "'; a bundle file starts with " +
                                            std::string(kBundleFileEnvelopeName));
    if (header->size > limits.max_envelope_bytes)
      return Fail(ErrorCode::kResourceExhausted, "envelope.json is " + std::to_string(header->size) +
                                                     " bytes, more than the limit of " + std::to_string(limits.max_envelope_bytes));
    std::string bytes(static_cast<size_t>(header->size), '\0');
    EDGE_TRY(stream->ReadExact(bytes.data(), bytes.size(), "envelope.json"));
    EDGE_TRY(stream->SkipPadding(bytes.size(), "envelope.json"));

    auto envelope = ParseEnvelope(bytes);
    if (!envelope) return Fail(envelope.error().Wrap("envelope.json"));
    if (envelope->payload_type != kManifestPayloadType)
      return Fail(ErrorCode::kInvalidArgument, "envelope.json carries '" + ustar::Printable(envelope->payload_type) +
                                                   "', not a manifest");
    auto manifest = ParseManifest(envelope->payload);
    if (!manifest) return Fail(manifest.error().Wrap("the manifest in envelope.json"));
    uint64_t total = 0;
    for (const auto& b : manifest->blobs) total += b.size;
    if (total > limits.max_total_blob_bytes)
      return Fail(ErrorCode::kResourceExhausted, "the manifest's blobs total " + std::to_string(total) +
                                                     " bytes, more than the limit of " + std::to_string(limits.max_total_blob_bytes));
    return BundleFileReader(std::move(stream), std::move(bytes), std::move(*envelope), std::move(*manifest));
  }();
  if (!opened) return Fail(opened.error().Wrap("bundle file " + file.string()));
  return opened;
}

Result<BlobImportCounts> BundleFileReader::ImportBlobs(const std::filesystem::path& blob_dir) {
  auto counts = ReadBlobs(&blob_dir);
  if (!counts) return Fail(counts.error().Wrap("bundle file " + stream_->path.string()));
  return counts;
}

Status BundleFileReader::VerifyBlobs() {
  auto counts = ReadBlobs(nullptr);
  if (!counts) return Fail(counts.error().Wrap("bundle file " + stream_->path.string()));
  return Ok();
}

Result<BlobImportCounts> BundleFileReader::ReadBlobs(const std::filesystem::path* blob_dir) {
  if (stream_->blobs_read) return Fail(ErrorCode::kInternal, "the blobs were already read");
  stream_->blobs_read = true;
  if (blob_dir) {
    std::error_code ec;
    if (!stdfs::is_directory(*blob_dir, ec))
      return Fail(ErrorCode::kNotFound, "blob directory " + blob_dir->string() + " does not exist");
    // Refuse up front rather than fill the disk and fail half-way.
    uint64_t needed = 0;
    for (const auto& b : manifest_.blobs)
      if (!stdfs::exists(*blob_dir / b.digest, ec)) needed += b.size;
    EDGE_ASSIGN_OR_RETURN(const uint64_t free, fs::FreeBytes(*blob_dir));
    if (needed > free)
      return Fail(ErrorCode::kResourceExhausted, "the blobs need " + std::to_string(needed) + " bytes, " +
                                                     blob_dir->string() + " has " + std::to_string(free) + " free");
  }

  // A refused file changes nothing: blobs written before the problem showed are removed again.
  BlobImportCounts counts;
  std::vector<stdfs::path> written;
  auto read = [&]() -> Status {
    for (size_t next = 0;; ++next) {
      const uint64_t at = stream_->offset;
      EDGE_ASSIGN_OR_RETURN(auto header, stream_->NextHeader());
      if (!header) {
        if (next < manifest_.blobs.size())
          return Fail(ErrorCode::kDataLoss, "missing " + Describe(manifest_.blobs[next]) + ": the archive ends at offset " +
                                                std::to_string(at) + " before it");
        return stream_->ExpectEnd();
      }
      EDGE_ASSIGN_OR_RETURN(const BlobRef* ref, ExpectedBlob(manifest_, next, header->name, at));
      if (header->size != ref->size)
        return Fail(ErrorCode::kDataLoss, "size mismatch: entry '" + EntryName(*ref) + "' at offset " + std::to_string(at) +
                                              " is " + std::to_string(header->size) + " bytes, the manifest declares " +
                                              std::to_string(ref->size));
      EDGE_ASSIGN_OR_RETURN(const bool wrote, ReadBlob(*ref, blob_dir));
      if (wrote) written.push_back(*blob_dir / ref->digest);
      ++(wrote ? counts.written : counts.present);
    }
  };
  if (auto s = read(); !s) {
    for (const auto& p : written) ::unlink(p.c_str());
    return Fail(s.error());
  }
  if (!blob_dir) counts = {};
  return counts;
}

Result<bool> BundleFileReader::ReadBlob(const BlobRef& ref, const std::filesystem::path* blob_dir) {
  const std::string inside = "entry '" + EntryName(ref) + "'";
  auto check = [&](const std::string& actual) -> Status {
    if (actual == ref.digest) return Ok();
    return Fail(ErrorCode::kDataLoss, "sha256 mismatch in " + inside + " (" + ref.role + "): the content hashes to " + actual);
  };
  // Verifying only, or the blob is already in place: hash the entry, write nothing. The entry is
  // still checked, so a corrupt file is refused whatever the blob directory holds.
  if (!blob_dir || CheckBlobFile(ref, *blob_dir / ref.digest)) {
    EDGE_ASSIGN_OR_RETURN(auto actual, stream_->CopyData(ref.size, UniqueFd(), {}, inside));
    EDGE_TRY(check(actual));
    return false;
  }

  const auto final_path = *blob_dir / ref.digest;
  const stdfs::path partial = final_path.string() + ".partial";
  UniqueFd out(::open(partial.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!out.valid()) return Fail(PosixError(ErrorCode::kIo, "cannot create", partial, errno));
  auto written = stream_->CopyData(ref.size, out, partial, inside).and_then(check).and_then([&] { return Fsync(out, partial); });
  out.Reset();
  if (written && ::rename(partial.c_str(), final_path.c_str()) != 0)
    written = Fail(PosixError(ErrorCode::kIo, "cannot rename into place", final_path, errno));
  if (!written) {
    ::unlink(partial.c_str());
    return Fail(written.error());
  }
  EDGE_TRY(fs::FsyncPath(*blob_dir));
  return true;
}

Result<ImportedBundle> ReadBundleFile(const std::filesystem::path& file, const std::filesystem::path& blob_dir,
                                      const ReadLimits& limits) {
  EDGE_ASSIGN_OR_RETURN(auto reader, BundleFileReader::Open(file, limits));
  EDGE_ASSIGN_OR_RETURN(auto counts, reader.ImportBlobs(blob_dir));
  return ImportedBundle{reader.envelope_bytes(), reader.envelope(), reader.manifest(), counts};
}

}  // namespace edge::bundle
