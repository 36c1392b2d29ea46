// WriteBundleFile: the exporting side of bundle_file.h.
#include <fcntl.h>
#include <sys/stat.h>

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

bool SameBlobs(const Manifest& a, const Manifest& b) {
  if (a.blobs.size() != b.blobs.size()) return false;
  for (size_t i = 0; i < a.blobs.size(); ++i)
    if (a.blobs[i].digest != b.blobs[i].digest || a.blobs[i].size != b.blobs[i].size) return false;
  return true;
}

Status WritePadding(const UniqueFd& out, uint64_t size, const stdfs::path& path) {
  static constexpr ustar::Block kZeros{};
  return WriteAll(out, kZeros.data(), ustar::PaddingAfter(size), path);
}

Status WriteHeader(const UniqueFd& out, std::string_view name, uint64_t size, const stdfs::path& path) {
  EDGE_ASSIGN_OR_RETURN(auto header, ustar::RegularFileHeader(name, size));
  return WriteAll(out, header.data(), header.size(), path);
}

// Copies one blob into the archive, checking on the way that it is the blob the manifest names:
// exporting a corrupt blob would only move the failure to the air-gapped site.
Status CopyBlobEntry(const UniqueFd& out, const stdfs::path& out_path, const BlobRef& ref, const stdfs::path& source) {
  const std::string what = "blob " + ref.role + " (" + ref.digest.substr(0, 16) + ") at " + source.string();
  struct stat st {};
  auto opened = fs::OpenRegularFile(source, 0, &st);
  if (!opened) {
    const Error named = opened.error().Wrap("blob " + ref.role + " (" + ref.digest.substr(0, 16) + ")");
    // A FIFO, a directory...: the store is damaged.
    return Fail(named.code == ErrorCode::kInvalidArgument ? Error{ErrorCode::kDataLoss, named.message} : named);
  }
  const UniqueFd in = std::move(*opened);
  if (static_cast<uint64_t>(st.st_size) != ref.size)
    return Fail(ErrorCode::kDataLoss, what + ": " + std::to_string(st.st_size) + " bytes, the manifest declares " +
                                          std::to_string(ref.size));
  EDGE_TRY(WriteHeader(out, std::string(kBundleFileBlobPrefix) + ref.digest, ref.size, out_path));
  crypto::Sha256 hash;
  std::vector<char> buf(1 << 16);
  for (uint64_t left = ref.size; left > 0;) {
    EDGE_ASSIGN_OR_RETURN(const size_t got, ReadSome(in, buf.data(), std::min<uint64_t>(left, buf.size()), source));
    if (got == 0) return Fail(ErrorCode::kDataLoss, what + ": shrank while being exported");
    hash.Update(std::string_view(buf.data(), got));
    EDGE_TRY(WriteAll(out, buf.data(), got, out_path));
    left -= got;
  }
  const auto actual = crypto::HexEncode(hash.Final());
  if (actual != ref.digest)
    return Fail(ErrorCode::kDataLoss, what + ": sha256 mismatch: file has " + actual + ", manifest declares " + ref.digest);
  return WritePadding(out, ref.size, out_path);
}

Status WriteArchive(const UniqueFd& out, const stdfs::path& out_path, const std::string& envelope_bytes,
                    const Manifest& manifest, const BlobSourceFn& blob_source) {
  EDGE_TRY(WriteHeader(out, kBundleFileEnvelopeName, envelope_bytes.size(), out_path));
  EDGE_TRY(WriteAll(out, envelope_bytes.data(), envelope_bytes.size(), out_path));
  EDGE_TRY(WritePadding(out, envelope_bytes.size(), out_path));
  for (const auto& ref : manifest.blobs) EDGE_TRY(CopyBlobEntry(out, out_path, ref, blob_source(ref.digest)));
  static constexpr ustar::Block kZeros{};
  EDGE_TRY(WriteAll(out, kZeros.data(), kZeros.size(), out_path));
  EDGE_TRY(WriteAll(out, kZeros.data(), kZeros.size(), out_path));
  return Fsync(out, out_path);
}

}  // namespace

Status WriteBundleFile(const std::string& envelope_bytes, const Manifest& manifest, const BlobSourceFn& blob_source,
                       const std::filesystem::path& out) {
  // What the reader will refuse is refused here, where the operator can still fix it.
  if (envelope_bytes.size() > kMaxEnvelopeBytes)
    return Fail(ErrorCode::kInvalidArgument, "envelope is " + std::to_string(envelope_bytes.size()) +
                                                 " bytes, more than the limit of " + std::to_string(kMaxEnvelopeBytes));
  EDGE_ASSIGN_OR_RETURN(auto envelope, ParseEnvelope(envelope_bytes));
  auto carried = ParseManifest(envelope.payload);
  if (!carried) return Fail(carried.error().Wrap("the manifest in the envelope"));
  if (!SameBlobs(*carried, manifest))
    return Fail(ErrorCode::kInvalidArgument, "the envelope's manifest lists other blobs than the manifest given");

  const auto dir = out.has_parent_path() ? out.parent_path() : std::filesystem::path(".");
  const std::filesystem::path tmp = out.string() + ".tmp." + std::to_string(::getpid());
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd.valid()) return Fail(PosixError(ErrorCode::kIo, "cannot create", tmp, errno));
  auto written = WriteArchive(fd, tmp, envelope_bytes, manifest, blob_source);
  fd.Reset();
  if (written && ::rename(tmp.c_str(), out.c_str()) != 0)
    written = Fail(PosixError(ErrorCode::kIo, "cannot rename into place", out, errno));
  if (!written) {
    ::unlink(tmp.c_str());
    return written;
  }
  return fs::FsyncPath(dir);
}

}  // namespace edge::bundle
