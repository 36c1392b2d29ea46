#include "controller/api/bundle_receiver.h"

#include <unistd.h>

#include <random>

#include "common/core/fs.h"
#include "common/crypto/encoding.h"

namespace edge::controller {

BundleReceiver::~BundleReceiver() { DiscardCurrent(); }

void BundleReceiver::DiscardCurrent() {
  if (temp_) {
    std::fclose(temp_);
    temp_ = nullptr;
    ::unlink(temp_path_.c_str());
  }
  current_ = nullptr;
}

Status BundleReceiver::OnEnvelope(const std::string& bytes) {
  if (manifest_) return Fail(ErrorCode::kInvalidArgument, "the envelope was sent twice");
  if (bytes.size() > bundle::kMaxEnvelopeBytes) return Fail(ErrorCode::kInvalidArgument, "envelope is larger than 1 MiB");
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(bytes));
  EDGE_ASSIGN_OR_RETURN(auto manifest, bundle::VerifyManifest(envelope, policy_, now_));
  // Record which trusted key signed it, for the audit trail.
  for (const auto& sig : envelope.signatures) {
    for (const auto& key : policy_.keys) {
      if (key.id == sig.key_id) signer_ = key.id;
    }
  }
  envelope_bytes_ = bytes;
  manifest_ = std::move(manifest);
  return Ok();
}

Status BundleReceiver::OnBlobPart(const std::string& digest, const std::string& data) {
  if (!manifest_) return Fail(ErrorCode::kInvalidArgument, "the envelope must be sent before any blob");
  if (!current_ || current_->digest != digest) {
    EDGE_TRY(FinishCurrentBlob());
    const bundle::BlobRef* ref = nullptr;
    for (const auto& b : manifest_->blobs)
      if (b.digest == digest) ref = &b;
    if (!ref) return Fail(ErrorCode::kInvalidArgument, "blob " + digest + " is not listed in the signed manifest");
    if (received_.count(digest)) return Fail(ErrorCode::kInvalidArgument, "blob " + digest + " was sent twice");
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    temp_path_ = blob_dir_.parent_path() / ("incoming." + std::to_string(rng()));
    temp_ = std::fopen(temp_path_.c_str(), "wbx");
    if (!temp_) return Fail(ErrorCode::kIo, "cannot create " + temp_path_.string() + ": " + fs::ErrnoText(errno));
    current_ = ref;
    hasher_.emplace();
    current_bytes_ = 0;
  }
  if (current_bytes_ + data.size() > current_->size)
    return Fail(ErrorCode::kDataLoss, "blob " + digest + " is longer than its declared size of " +
                                          std::to_string(current_->size) + " bytes");
  if (std::fwrite(data.data(), 1, data.size(), temp_) != data.size())
    return Fail(ErrorCode::kIo, "cannot write " + temp_path_.string() + ": " + fs::ErrnoText(errno));
  hasher_->Update(data);
  current_bytes_ += data.size();
  return Ok();
}

Status BundleReceiver::FinishCurrentBlob() {
  if (!current_) return Ok();
  const auto ref = *current_;
  if (current_bytes_ != ref.size) {
    DiscardCurrent();
    return Fail(ErrorCode::kDataLoss, "blob " + ref.digest + " is truncated: got " + std::to_string(current_bytes_) +
                                          " of " + std::to_string(ref.size) + " bytes");
  }
  const auto digest = hasher_->Final();
  const std::string hex = crypto::HexEncode(digest);
  if (hex != ref.digest) {
    DiscardCurrent();
    return Fail(ErrorCode::kDataLoss, "blob content does not match its digest " + ref.digest + " (got " + hex + ")");
  }
  if (std::fflush(temp_) != 0 || ::fsync(fileno(temp_)) != 0) {
    DiscardCurrent();
    return Fail(ErrorCode::kIo, "cannot flush " + temp_path_.string());
  }
  std::fclose(temp_);
  temp_ = nullptr;
  std::error_code ec;
  std::filesystem::rename(temp_path_, blob_dir_ / ref.digest, ec);
  if (ec) {
    ::unlink(temp_path_.c_str());
    current_ = nullptr;
    return Fail(ErrorCode::kIo, "cannot store blob " + ref.digest + ": " + ec.message());
  }
  EDGE_TRY(fs::FsyncPath(blob_dir_));
  received_.insert(ref.digest);
  current_ = nullptr;
  return Ok();
}

Result<VersionRecord> BundleReceiver::Complete(const std::string& actor) {
  if (!manifest_) return Fail(ErrorCode::kInvalidArgument, "no envelope was sent");
  EDGE_TRY(FinishCurrentBlob());
  VersionRecord v;
  v.model = manifest_->name;
  v.version = manifest_->version;
  v.security_version = manifest_->security_version;
  v.manifest_digest = crypto::Sha256Hex(envelope_bytes_);
  v.envelope = envelope_bytes_;
  v.signed_by = signer_;
  v.pushed_by = actor;
  for (const auto& b : manifest_->blobs) {
    // A blob not sent now must already be in the store (an unchanged blob is never sent twice);
    // re-check it, since the store is only trusted as far as its digests.
    if (!received_.count(b.digest)) {
      if (auto s = bundle::CheckBlobFile(b, blob_dir_ / b.digest); !s)
        return Fail(s.error().Wrap("blob " + b.digest + " (" + b.role + ") was not sent and is not usable in the store"));
    }
    v.total_bytes += b.size;
    v.blobs.push_back({b.digest, b.role, b.size});
  }
  return v;
}

}  // namespace edge::controller
