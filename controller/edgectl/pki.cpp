#include "controller/edgectl/pki.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/bundle/bundle.h"
#include "common/core/fs.h"
#include "common/crypto/ed25519.h"
#include "common/crypto/x509.h"

namespace edge::edgectl {
namespace {

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

Status WritePrivate(const std::filesystem::path& path, const std::string& pem) {
  return fs::WriteFileAtomic(path, pem, 0600);
}

struct Ca {
  crypto::PrivateKey key;
  std::string cert;
};

Result<Ca> MakeCa(const std::string& cn, const std::filesystem::path& dir, const std::string& stem) {
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::GenerateP256());
  crypto::CertSpec spec;
  spec.common_name = cn;
  spec.is_ca = true;
  spec.validity = std::chrono::hours(24 * 365 * 10);
  EDGE_ASSIGN_OR_RETURN(auto cert, crypto::CreateSelfSignedCa(key, spec));
  EDGE_ASSIGN_OR_RETURN(auto key_pem, key.ToPem());
  EDGE_TRY(WritePrivate(dir / (stem + ".key"), key_pem));
  EDGE_TRY(fs::WriteFileAtomic(dir / (stem + ".pem"), cert));
  return Ca{std::move(key), cert};
}

struct LeafPem {
  std::string key;
  std::string cert;
};

Result<LeafPem> NewLeaf(const Ca& ca, const crypto::CertSpec& spec) {
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::GenerateP256());
  EDGE_ASSIGN_OR_RETURN(auto cert, crypto::IssueCertificate({ca.cert, &ca.key}, key, spec));
  EDGE_ASSIGN_OR_RETURN(auto key_pem, key.ToPem());
  return LeafPem{std::move(key_pem), std::move(cert)};
}

Status IssueLeaf(const Ca& ca, const crypto::CertSpec& spec, const std::filesystem::path& stem) {
  EDGE_ASSIGN_OR_RETURN(auto leaf, NewLeaf(ca, spec));
  EDGE_TRY(WritePrivate(stem.string() + ".key", leaf.key));
  return fs::WriteFileAtomic(stem.string() + ".pem", leaf.cert);
}

std::filesystem::path With(const std::filesystem::path& stem, const char* suffix) { return stem.string() + suffix; }

Result<bool> PairMatches(const std::string& cert_pem, const std::string& key_pem) {
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::FromPem(key_pem));
  return crypto::CertificateMatchesKey(cert_pem, key);
}

Status RenameInto(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0)
    return Fail(ErrorCode::kIo, "cannot rename " + from.string() + " to " + to.string() + ": " + fs::ErrnoText(errno));
  return Ok();
}

// A CA from DIR/<stem>.{key,pem}. Renewal is the one step that needs a CA's private key, which
// pki init tells the operator to keep offline: say so when it is missing.
Result<Ca> LoadCa(const std::filesystem::path& dir, const std::string& stem) {
  const auto key_file = dir / (stem + ".key");
  const auto cert_file = dir / (stem + ".pem");
  auto key_pem = fs::ReadFile(key_file, 64 * 1024);
  if (!key_pem)
    return Fail(ErrorCode::kNotFound, "cannot read the CA key " + key_file.string() + ": " + key_pem.error().message +
                                          " (renewal signs with it; run this where the key is kept)");
  auto cert = fs::ReadFile(cert_file, 64 * 1024);
  if (!cert) return Fail(ErrorCode::kNotFound, "cannot read the CA certificate " + cert_file.string() + ": " + cert.error().message);
  auto key = crypto::PrivateKey::FromPem(*key_pem);
  if (!key) return Fail(ErrorCode::kInvalidArgument, key_file.string() + ": " + key.error().message);
  auto match = crypto::CertificateMatchesKey(*cert, *key);
  if (!match) return Fail(ErrorCode::kInvalidArgument, cert_file.string() + ": " + match.error().message);
  if (!*match)
    return Fail(ErrorCode::kInvalidArgument, key_file.string() + " is not the key of " + cert_file.string());
  return Ca{std::move(*key), std::move(*cert)};
}

// The certificate being renewed: it must exist and chain to `ca` (checked at its own notBefore,
// so an expired certificate can still be renewed), so that a renewal never mixes two PKIs.
Result<crypto::CertInfo> CurrentCertificate(const std::filesystem::path& file, const Ca& ca, const std::string& what) {
  auto pem = fs::ReadFile(file, 64 * 1024);
  if (!pem) return Fail(ErrorCode::kNotFound, "cannot read the current " + what + " certificate " + file.string() + ": " +
                                                  pem.error().message);
  auto info = crypto::ParseCertificate(*pem);
  if (!info) return Fail(ErrorCode::kInvalidArgument, file.string() + ": " + info.error().message);
  if (auto chained = crypto::VerifyCertificate(*pem, ca.cert, info->not_before + 1); !chained)
    return Fail(ErrorCode::kInvalidArgument, file.string() + " was not issued by this directory's CA: " +
                                                 chained.error().message);
  return info;
}

Result<crypto::CertInfo> RenewLeaf(const Ca& ca, const crypto::CertSpec& spec, const std::filesystem::path& stem) {
  EDGE_ASSIGN_OR_RETURN(auto leaf, NewLeaf(ca, spec));
  EDGE_TRY(InstallKeyPair(stem, leaf.key, leaf.cert));
  return crypto::ParseCertificate(leaf.cert);
}

Status CheckDays(int days) {
  if (days < 1 || days > kMaxCertDays)
    return Fail(ErrorCode::kInvalidArgument, "--days must be 1 to " + std::to_string(kMaxCertDays));
  return Ok();
}

crypto::CertSpec OperatorSpec(const std::string& fleet, const std::string& name) {
  crypto::CertSpec spec;
  spec.common_name = name;
  spec.uri_sans = {crypto::SpiffeId{fleet, "operator", name}.ToString()};
  spec.client_auth = true;
  spec.validity = std::chrono::hours(24 * 90);
  return spec;
}

Result<crypto::Ed25519KeyPair> MakeSigningKey(const std::filesystem::path& stem) {
  EDGE_ASSIGN_OR_RETURN(auto pair, crypto::GenerateEd25519());
  EDGE_ASSIGN_OR_RETURN(auto priv, crypto::Ed25519PrivateKeyToPem(pair.seed));
  EDGE_ASSIGN_OR_RETURN(auto pub, crypto::Ed25519PublicKeyToPem(pair.public_key));
  EDGE_TRY(WritePrivate(stem.string() + ".key", priv));
  EDGE_TRY(fs::WriteFileAtomic(stem.string() + ".pub", pub));
  return pair;
}

}  // namespace

Status PkiInit(const PkiInitOptions& o) {
  if (!crypto::IsValidName(o.fleet)) return Fail(ErrorCode::kInvalidArgument, "fleet name must match [A-Za-z0-9._-]{1,64}");
  if (!crypto::IsValidName(o.operator_name) || !crypto::IsValidName(o.release_key_name))
    return Fail(ErrorCode::kInvalidArgument, "operator and key names must match [A-Za-z0-9._-]{1,64}");
  if (o.controller_hosts.empty()) return Fail(ErrorCode::kInvalidArgument, "give at least one --controller-host");
  if (std::filesystem::exists(o.dir / "fleet-ca.pem"))
    return Fail(ErrorCode::kAlreadyExists, o.dir.string() + " already holds a PKI; refusing to overwrite it");
  EDGE_TRY(fs::CreateDirectories(o.dir, 0700));
  EDGE_TRY(fs::CreateDirectories(o.dir / "operators", 0700));

  EDGE_ASSIGN_OR_RETURN(auto fleet_ca, MakeCa(o.fleet + " fleet CA", o.dir, "fleet-ca"));
  EDGE_ASSIGN_OR_RETURN(auto operator_ca, MakeCa(o.fleet + " operator CA", o.dir, "operator-ca"));

  crypto::CertSpec server;
  server.common_name = o.controller_hosts.front();
  server.uri_sans = {crypto::SpiffeId{o.fleet, "controller", "controller"}.ToString()};
  for (const auto& h : o.controller_hosts) (IsIpAddress(h) ? server.ip_sans : server.dns_sans).push_back(h);
  server.server_auth = true;
  server.validity = std::chrono::hours(24 * 365);
  EDGE_TRY(IssueLeaf(fleet_ca, server, o.dir / "controller"));
  EDGE_TRY(IssueLeaf(operator_ca, OperatorSpec(o.fleet, o.operator_name), o.dir / "operators" / o.operator_name));

  EDGE_ASSIGN_OR_RETURN(auto root, MakeSigningKey(o.dir / "release-root"));
  EDGE_ASSIGN_OR_RETURN(auto release, MakeSigningKey(o.dir / o.release_key_name));

  bundle::TrustPolicy policy;
  policy.fleet = o.fleet;
  policy.version = 1;
  policy.keys.push_back({crypto::Ed25519KeyId(release.public_key), release.public_key, {"*"}});
  bundle::Envelope envelope{std::string(bundle::kTrustPolicyPayloadType), bundle::SerializeTrustPolicy(policy), {}};
  EDGE_TRY(bundle::SignEnvelope(envelope, root.seed));
  EDGE_TRY(fs::WriteFileAtomic(o.dir / "trust-policy.json", bundle::SerializeEnvelope(envelope)));
  return Ok();
}

Status InstallKeyPair(const std::filesystem::path& stem, const std::string& key_pem, const std::string& cert_pem) {
  EDGE_ASSIGN_OR_RETURN(bool match, PairMatches(cert_pem, key_pem));
  if (!match) return Fail(ErrorCode::kInternal, "refusing to install a key that does not match its certificate");
  EDGE_TRY(WritePrivate(With(stem, ".key.new"), key_pem));
  // A key its service reads through its group (the packages' /etc/edgefleet/controller.key is
  // root:edge-controller 0640) stays readable by that group: the new key gets the replaced
  // key's group and group-read bit, never more. Otherwise the service could not load it.
  struct stat old_st {};
  if (::stat(With(stem, ".key").c_str(), &old_st) == 0 && (old_st.st_mode & S_IRGRP) != 0) {
    const auto next = With(stem, ".key.new");
    if (::chown(next.c_str(), static_cast<uid_t>(-1), old_st.st_gid) != 0 || ::chmod(next.c_str(), 0640) != 0) {
      const int err = errno;
      std::remove(next.c_str());
      return Fail(ErrorCode::kIo, "cannot give " + next.string() + " the group of the key it replaces: " +
                                      std::strerror(err));
    }
  }
  EDGE_TRY(fs::WriteFileAtomic(With(stem, ".pem.new"), cert_pem));
  // Keep the pair being replaced, unless it is the half-swapped pair a crash left behind: then
  // the .old files already hold the last pair that matched.
  auto old_key = fs::ReadFile(With(stem, ".key"), 64 * 1024);
  auto old_cert = fs::ReadFile(With(stem, ".pem"), 64 * 1024);
  if (old_key && old_cert) {
    auto old_match = PairMatches(*old_cert, *old_key);
    if (old_match && *old_match) {
      EDGE_TRY(WritePrivate(With(stem, ".key.old"), *old_key));
      EDGE_TRY(fs::WriteFileAtomic(With(stem, ".pem.old"), *old_cert));
    }
  }
  // Certificate first, then key, each by rename: whoever reads the files (the controller's
  // certificate watcher included) sees whole files, and a mismatch lasts two syscalls.
  EDGE_TRY(RenameInto(With(stem, ".pem.new"), With(stem, ".pem")));
  EDGE_TRY(RenameInto(With(stem, ".key.new"), With(stem, ".key")));
  return fs::FsyncPath(stem.has_parent_path() ? stem.parent_path() : std::filesystem::path("."));
}

Result<crypto::CertInfo> PkiRenewOperator(const std::filesystem::path& dir, const std::string& fleet,
                                          const std::string& name, int days) {
  if (!crypto::IsValidName(fleet)) return Fail(ErrorCode::kInvalidArgument, "fleet name must match [A-Za-z0-9._-]{1,64}");
  if (!crypto::IsValidName(name)) return Fail(ErrorCode::kInvalidArgument, "operator name must match [A-Za-z0-9._-]{1,64}");
  EDGE_TRY(CheckDays(days));
  const auto stem = dir / "operators" / name;
  if (!std::filesystem::exists(With(stem, ".pem")))
    return Fail(ErrorCode::kNotFound, "no operator " + name + ": " + With(stem, ".pem").string() +
                                          " does not exist (issue one with: edgectl pki operator --dir " + dir.string() +
                                          " --fleet " + fleet + " " + name + ")");
  EDGE_ASSIGN_OR_RETURN(auto ca, LoadCa(dir, "operator-ca"));
  EDGE_ASSIGN_OR_RETURN(auto current, CurrentCertificate(With(stem, ".pem"), ca, "operator"));
  const std::string id = crypto::SpiffeId{fleet, "operator", name}.ToString();
  if (std::find(current.uri_sans.begin(), current.uri_sans.end(), id) == current.uri_sans.end())
    return Fail(ErrorCode::kInvalidArgument, With(stem, ".pem").string() + " does not carry " + id +
                                                 " (is --fleet right?); renewal keeps the identity and will not change it");
  auto spec = OperatorSpec(fleet, name);
  spec.validity = std::chrono::hours(24 * days);
  return RenewLeaf(ca, spec, stem);
}

Result<crypto::CertInfo> PkiRenewController(const std::filesystem::path& dir, int days) {
  EDGE_TRY(CheckDays(days));
  const auto stem = dir / "controller";
  EDGE_ASSIGN_OR_RETURN(auto ca, LoadCa(dir, "fleet-ca"));
  EDGE_ASSIGN_OR_RETURN(auto current, CurrentCertificate(With(stem, ".pem"), ca, "controller"));
  if (current.is_ca) return Fail(ErrorCode::kInvalidArgument, With(stem, ".pem").string() + " is a CA certificate");
  crypto::CertSpec spec;
  spec.common_name = current.subject_cn;
  spec.uri_sans = current.uri_sans;
  spec.dns_sans = current.dns_sans;
  spec.ip_sans = current.ip_sans;
  spec.server_auth = current.server_auth;
  spec.client_auth = current.client_auth;
  spec.validity = std::chrono::hours(24 * days);
  return RenewLeaf(ca, spec, stem);
}

Status PkiIssueOperator(const std::filesystem::path& dir, const std::string& fleet, const std::string& name) {
  if (!crypto::IsValidName(name)) return Fail(ErrorCode::kInvalidArgument, "operator name must match [A-Za-z0-9._-]{1,64}");
  if (std::filesystem::exists(dir / "operators" / (name + ".pem")))
    return Fail(ErrorCode::kAlreadyExists, "operator " + name + " already has a certificate in " + dir.string());
  EDGE_ASSIGN_OR_RETURN(auto key_pem, fs::ReadFile(dir / "operator-ca.key", 64 * 1024));
  EDGE_ASSIGN_OR_RETURN(auto cert, fs::ReadFile(dir / "operator-ca.pem", 64 * 1024));
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::FromPem(key_pem));
  EDGE_TRY(fs::CreateDirectories(dir / "operators", 0700));
  return IssueLeaf(Ca{std::move(key), cert}, OperatorSpec(fleet, name), dir / "operators" / name);
}

}  // namespace edge::edgectl
