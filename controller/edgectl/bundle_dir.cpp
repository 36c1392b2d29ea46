#include "controller/edgectl/bundle_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <optional>
#include <set>
#include <utility>

#include "agent/runtime/model_preflight.h"
#include "common/bundle/bundle_file.h"
#include "common/core/fs.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/sha256.h"

namespace edge::edgectl {

namespace {

// Undoes a build that fails half way, so a failed `bundle build` leaves no bundle-shaped debris
// that a later sign or push could pick up. Only what this build created is removed.
class PartialBuild {
 public:
  explicit PartialBuild(std::filesystem::path out)
      : out_(std::move(out)), created_out_(!std::filesystem::exists(out_)),
        created_blobs_(!std::filesystem::exists(out_ / "blobs")) {}
  PartialBuild(const PartialBuild&) = delete;
  PartialBuild& operator=(const PartialBuild&) = delete;
  ~PartialBuild() {
    if (done_) return;
    std::error_code ec;
    if (created_out_) {
      std::filesystem::remove_all(out_, ec);
      return;
    }
    for (const auto& blob : new_blobs_) std::filesystem::remove(blob, ec);
    if (created_blobs_) std::filesystem::remove(out_ / "blobs", ec);
  }
  // Call before writing `blob`, so a file that was there already is never removed.
  void WillWrite(const std::filesystem::path& blob) {
    if (!std::filesystem::exists(blob)) new_blobs_.insert(blob);
  }
  void Done() { done_ = true; }

 private:
  std::filesystem::path out_;
  bool created_out_, created_blobs_;
  std::set<std::filesystem::path> new_blobs_;
  bool done_ = false;
};

const BlobInput* FindInput(const std::vector<BlobInput>& blobs, std::string_view role) {
  for (const auto& b : blobs)
    if (b.role == role) return &b;
  return nullptr;
}

// The health gate's load and self-test steps on the files a device would install.
Status PreflightFiles(const std::filesystem::path& model, const std::optional<std::filesystem::path>& selftest,
                      double tolerance) {
  EDGE_TRY(runtime::PreflightModel(model, selftest, tolerance));
  return Ok();
}

// The same on a verified bundle's blobs, found by digest in `blob_dir`.
Status PreflightVerified(const bundle::Manifest& m, const std::filesystem::path& blob_dir) {
  const bundle::BlobRef* model = bundle::FindBlob(m, "model");  // a parsed manifest has one
  const bundle::BlobRef* selftest = bundle::FindBlob(m, "selftest");
  auto checked = PreflightFiles(blob_dir / model->digest,
                                selftest ? std::optional(blob_dir / selftest->digest) : std::nullopt,
                                m.health.selftest_tolerance);
  if (!checked) {
    return Fail(checked.error().Wrap(m.name + ":" + m.version +
                                     " is signed and its blobs verify, but every device would refuse it"));
  }
  return Ok();
}

// A private directory under $TMPDIR, removed with everything in it.
class ScratchDir {
 public:
  static Result<ScratchDir> Create() {
    std::string pattern = (std::filesystem::temp_directory_path() / "edgectl-verify-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      return Fail(ErrorCode::kIo, "cannot create a directory like " + pattern + ": " + fs::ErrnoText(errno));
    return ScratchDir(pattern);
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, {})) {}
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit ScratchDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

}  // namespace

Result<bundle::Manifest> BuildBundle(const BundleBuildOptions& o) {
  bundle::Manifest m;
  m.name = o.name;
  m.version = o.version;
  m.security_version = o.security_version;
  m.created = o.created;
  m.health = o.health;
  m.quality = o.quality;
  if (std::filesystem::exists(o.out / "manifest.json"))
    return Fail(ErrorCode::kAlreadyExists, o.out.string() + " already holds a bundle; choose an empty --out");
  // Before anything is written: a refused model leaves no output at all.
  const BlobInput* model = FindInput(o.blobs, "model");
  if (o.check_model && model != nullptr) {
    const BlobInput* selftest = FindInput(o.blobs, "selftest");
    auto checked = PreflightFiles(model->path, selftest ? std::optional(selftest->path) : std::nullopt,
                                  o.health.selftest_tolerance);
    if (!checked) {
      return Fail(checked.error().Wrap("refusing to build " + o.name + ":" + o.version +
                                       ", which every device would refuse"));
    }
  }
  PartialBuild partial(o.out);
  EDGE_TRY(fs::CreateDirectories(o.out / "blobs"));
  for (const auto& b : o.blobs) {
    EDGE_ASSIGN_OR_RETURN(auto digest, crypto::Sha256FileHex(b.path));
    std::error_code ec;
    const auto size = std::filesystem::file_size(b.path, ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot stat " + b.path.string() + ": " + ec.message());
    partial.WillWrite(o.out / "blobs" / digest);
    std::filesystem::copy_file(b.path, o.out / "blobs" / digest, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot copy " + b.path.string() + ": " + ec.message());
    m.blobs.push_back({b.role, digest, size, b.media_type});
  }
  // Round-trip through the strict parser so a bad name or version fails here, not at push.
  const std::string payload = bundle::SerializeManifest(m);
  EDGE_ASSIGN_OR_RETURN(auto parsed, bundle::ParseManifest(payload));
  EDGE_TRY(fs::WriteFileAtomic(o.out / "manifest.json", payload));
  partial.Done();
  return parsed;
}

Result<std::string> SignBundle(const std::filesystem::path& dir, const std::filesystem::path& key_file) {
  EDGE_ASSIGN_OR_RETURN(auto key_pem, fs::ReadFile(key_file, 64 * 1024));
  auto key = crypto::Ed25519PrivateKeyFromPem(key_pem);
  if (!key) return Fail(key.error().Wrap("signing key " + key_file.string()));
  bundle::Envelope envelope;
  const auto envelope_path = dir / "envelope.json";
  if (std::filesystem::exists(envelope_path)) {
    EDGE_ASSIGN_OR_RETURN(auto text, fs::ReadFile(envelope_path, bundle::kMaxEnvelopeBytes));
    EDGE_ASSIGN_OR_RETURN(envelope, bundle::ParseEnvelope(text));
  } else {
    EDGE_ASSIGN_OR_RETURN(auto payload, fs::ReadFile(dir / "manifest.json", bundle::kMaxEnvelopeBytes));
    EDGE_TRY(bundle::ParseManifest(payload));
    envelope = {std::string(bundle::kManifestPayloadType), payload, {}};
  }
  const auto key_id = crypto::Ed25519KeyId(key->public_key);
  for (const auto& s : envelope.signatures)
    if (s.key_id == key_id) return Fail(ErrorCode::kAlreadyExists, "bundle is already signed by " + key_id);
  EDGE_TRY(bundle::SignEnvelope(envelope, key->seed));
  EDGE_TRY(fs::WriteFileAtomic(envelope_path, bundle::SerializeEnvelope(envelope)));
  return key_id;
}

namespace {

// A directory without a signature: refused like any signature failure (exit 77), since no agent
// installs it (docs/cli.md, "Exit codes").
Error UnsignedBundle(const std::filesystem::path& dir) {
  return {ErrorCode::kPermissionDenied, "bundle " + dir.string() +
                                            " is unsigned, and an agent refuses unsigned bundles: sign it first "
                                            "(edgectl bundle sign " + dir.string() + " --key KEY)"};
}

bool HasEnvelope(const std::filesystem::path& dir) {
  std::error_code ec;
  return std::filesystem::exists(std::filesystem::symlink_status(dir / "envelope.json", ec));
}

}  // namespace

Result<std::pair<std::string, bundle::Manifest>> ReadSignedBundle(const std::filesystem::path& dir) {
  if (!HasEnvelope(dir)) return Fail(UnsignedBundle(dir));
  auto text = fs::ReadFile(dir / "envelope.json", bundle::kMaxEnvelopeBytes);
  if (!text) return Fail(text.error());
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(*text));
  EDGE_ASSIGN_OR_RETURN(auto manifest, bundle::ParseManifest(envelope.payload));
  return std::pair{*text, manifest};
}

namespace {

Result<bundle::TrustPolicy> LoadTrustPolicy(const std::filesystem::path& trust_policy,
                                            const std::filesystem::path& root_key, int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto root_pem, fs::ReadFile(root_key, 64 * 1024));
  EDGE_ASSIGN_OR_RETURN(auto root, crypto::Ed25519PublicKeyFromPem(root_pem));
  EDGE_ASSIGN_OR_RETURN(auto policy_text, fs::ReadFile(trust_policy, bundle::kMaxEnvelopeBytes));
  EDGE_ASSIGN_OR_RETURN(auto policy_envelope, bundle::ParseEnvelope(policy_text));
  return bundle::VerifyTrustPolicy(policy_envelope, root, now);
}

}  // namespace

Result<VerifiedBundle> VerifyBundle(const std::filesystem::path& bundle, const std::filesystem::path& trust_policy,
                                    const std::filesystem::path& root_key, int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto policy, LoadTrustPolicy(trust_policy, root_key, now));
  if (!std::filesystem::is_directory(bundle)) {
    EDGE_ASSIGN_OR_RETURN(auto reader, bundle::BundleFileReader::Open(bundle));
    EDGE_ASSIGN_OR_RETURN(auto manifest, bundle::VerifyManifest(reader.envelope(), policy, now));
    // Unpacked only after the signature verified, as the agent does.
    EDGE_ASSIGN_OR_RETURN(auto scratch, ScratchDir::Create());
    EDGE_TRY(reader.ImportBlobs(scratch.path()));
    EDGE_TRY(PreflightVerified(manifest, scratch.path()));
    return VerifiedBundle{manifest, reader.envelope_bytes(), policy};
  }
  if (!HasEnvelope(bundle)) return Fail(UnsignedBundle(bundle));
  EDGE_ASSIGN_OR_RETURN(auto text, fs::ReadFile(bundle / "envelope.json", bundle::kMaxEnvelopeBytes));
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(text));
  EDGE_ASSIGN_OR_RETURN(auto manifest, bundle::VerifyManifest(envelope, policy, now));
  // manifest.json is a readable copy of the signed payload, and people read it (the quality
  // figures): a copy edited after signing must not pass for what was signed.
  const auto manifest_path = bundle / "manifest.json";
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(manifest_path, ec))) {
    auto on_disk = fs::ReadFile(manifest_path, bundle::kMaxEnvelopeBytes);
    if (!on_disk || *on_disk != envelope.payload) {
      return Fail(ErrorCode::kPermissionDenied,
                  manifest_path.string() +
                      " differs from the signed manifest inside envelope.json (the bytes the signatures cover): it "
                      "was changed after signing; only the envelope's payload is what was signed");
    }
  }
  for (const auto& b : manifest.blobs) EDGE_TRY(bundle::CheckBlobFile(b, bundle / "blobs" / b.digest));
  EDGE_TRY(PreflightVerified(manifest, bundle / "blobs"));
  return VerifiedBundle{manifest, text, policy};
}

Result<ExportedBundle> ExportBundle(const std::filesystem::path& dir, const std::filesystem::path& out) {
  EDGE_ASSIGN_OR_RETURN(auto signed_bundle, ReadSignedBundle(dir));
  auto& [envelope_bytes, manifest] = signed_bundle;
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(envelope_bytes));
  if (envelope.signatures.empty()) return Fail(UnsignedBundle(dir));
  auto written = bundle::WriteBundleFile(envelope_bytes, manifest,
                                         [&](const std::string& digest) { return dir / "blobs" / digest; }, out);
  if (!written) return Fail(written.error().Wrap("exporting " + dir.string() + " to " + out.string()));
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(out, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot stat " + out.string() + ": " + ec.message());
  return ExportedBundle{manifest, bytes};
}

}  // namespace edge::edgectl
