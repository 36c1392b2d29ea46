#include "controller/edgectl/bundle_dir.h"

#include "common/bundle/bundle_file.h"
#include "common/core/fs.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/sha256.h"

namespace edge::edgectl {

Result<bundle::Manifest> BuildBundle(const BundleBuildOptions& o) {
  bundle::Manifest m;
  m.name = o.name;
  m.version = o.version;
  m.security_version = o.security_version;
  m.created = o.created;
  m.health = o.health;
  if (std::filesystem::exists(o.out / "manifest.json"))
    return Fail(ErrorCode::kAlreadyExists, o.out.string() + " already holds a bundle; choose an empty --out");
  EDGE_TRY(fs::CreateDirectories(o.out / "blobs"));
  for (const auto& b : o.blobs) {
    EDGE_ASSIGN_OR_RETURN(auto digest, crypto::Sha256FileHex(b.path));
    std::error_code ec;
    const auto size = std::filesystem::file_size(b.path, ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot stat " + b.path.string() + ": " + ec.message());
    std::filesystem::copy_file(b.path, o.out / "blobs" / digest, std::filesystem::copy_options::overwrite_existing, ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot copy " + b.path.string() + ": " + ec.message());
    m.blobs.push_back({b.role, digest, size, b.media_type});
  }
  // Round-trip through the strict parser so a bad name or version fails here, not at push.
  const std::string payload = bundle::SerializeManifest(m);
  EDGE_ASSIGN_OR_RETURN(auto parsed, bundle::ParseManifest(payload));
  EDGE_TRY(fs::WriteFileAtomic(o.out / "manifest.json", payload));
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

Result<std::pair<std::string, bundle::Manifest>> ReadSignedBundle(const std::filesystem::path& dir) {
  auto text = fs::ReadFile(dir / "envelope.json", bundle::kMaxEnvelopeBytes);
  if (!text) return Fail(text.error().Wrap("bundle is not signed (run: edgectl bundle sign " + dir.string() + " --key KEY)"));
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
    EDGE_TRY(reader.VerifyBlobs());
    return VerifiedBundle{manifest, reader.envelope_bytes(), policy};
  }
  EDGE_ASSIGN_OR_RETURN(auto text, fs::ReadFile(bundle / "envelope.json", bundle::kMaxEnvelopeBytes));
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(text));
  EDGE_ASSIGN_OR_RETURN(auto manifest, bundle::VerifyManifest(envelope, policy, now));
  for (const auto& b : manifest.blobs) EDGE_TRY(bundle::CheckBlobFile(b, bundle / "blobs" / b.digest));
  return VerifiedBundle{manifest, text, policy};
}

Result<ExportedBundle> ExportBundle(const std::filesystem::path& dir, const std::filesystem::path& out) {
  const auto unsigned_bundle = [&] {
    return Fail(ErrorCode::kPermissionDenied, "bundle " + dir.string() +
                                                  " is unsigned, and an agent refuses unsigned bundles: sign it first "
                                                  "(edgectl bundle sign " + dir.string() + " --key KEY)");
  };
  if (!std::filesystem::exists(dir / "envelope.json")) return unsigned_bundle();
  EDGE_ASSIGN_OR_RETURN(auto signed_bundle, ReadSignedBundle(dir));
  auto& [envelope_bytes, manifest] = signed_bundle;
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(envelope_bytes));
  if (envelope.signatures.empty()) return unsigned_bundle();
  auto written = bundle::WriteBundleFile(envelope_bytes, manifest,
                                         [&](const std::string& digest) { return dir / "blobs" / digest; }, out);
  if (!written) return Fail(written.error().Wrap("exporting " + dir.string() + " to " + out.string()));
  std::error_code ec;
  const auto bytes = std::filesystem::file_size(out, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot stat " + out.string() + ": " + ec.message());
  return ExportedBundle{manifest, bytes};
}

}  // namespace edge::edgectl
