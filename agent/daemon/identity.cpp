#include "agent/daemon/identity.h"

#include <unistd.h>

#include "agent/net/controller_link.h"
#include "common/core/fs.h"
#include "common/core/log.h"
#include "common/crypto/x509.h"
#include "common/tls/grpc_tls.h"

namespace edge::agent {

Result<Identity> IdentityManager::LoadOrEnroll(const std::function<Status(const edge::v1::EnrollResponse&)>& adopt) {
  const auto dir = Dir();
  EDGE_TRY(fs::CreateDirectories(dir, 0700));
  auto ca = tls::ReadPem(config_.ca_file);
  if (!ca) return Fail(ca.error().Wrap("ca_file"));
  std::error_code ec;
  const bool enrolled = std::filesystem::exists(dir / "cert.pem", ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot read " + (dir / "cert.pem").string() + ": " + ec.message());
  if (enrolled) {
    EDGE_TRY(RecoverRenewal(dir));
    EDGE_ASSIGN_OR_RETURN(auto cert, fs::ReadFile(dir / "cert.pem", 64 * 1024));
    EDGE_ASSIGN_OR_RETURN(auto key, fs::ReadFile(dir / "key.pem", 64 * 1024));
    EDGE_ASSIGN_OR_RETURN(auto info, crypto::ParseCertificate(cert));
    not_before_ = info.not_before;
    not_after_ = info.not_after;
    if (info.subject_cn != config_.device_name)
      return Fail(ErrorCode::kBadConfig, "state dir " + config_.state_dir.string() + " belongs to device '" +
                                             info.subject_cn + "', but device_name is '" + config_.device_name + "'");
    return Identity{info.subject_cn, cert, key, *ca};
  }
  std::string token = config_.enrollment_token;
  if (!config_.enrollment_token_file.empty()) {
    auto t = fs::ReadFile(config_.enrollment_token_file, 4096);
    if (!t) return Fail(ErrorCode::kBadConfig, t.error().Wrap("enrollment_token_file").message);
    token = *t;
    while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  if (token.empty())
    return Fail(ErrorCode::kBadConfig, "device is not enrolled and no enrollment_token is configured "
                                       "(create one with: edgectl token create --site SITE)");
  // The key pair is made here and never leaves the device; only the CSR is sent.
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::GenerateP256());
  EDGE_ASSIGN_OR_RETURN(auto key_pem, key.ToPem());
  EDGE_ASSIGN_OR_RETURN(auto csr, crypto::CreateCsr(key, config_.device_name));
  log::Info("enrolling", {{"device", config_.device_name}, {"endpoints", config_.enroll_endpoints}});
  EDGE_ASSIGN_OR_RETURN(auto resp, Enroll({config_.enroll_endpoints, *ca, token, config_.device_name, csr,
                                              std::chrono::milliseconds(config_.connect_timeout_ms)}));
  EDGE_TRY(adopt(resp));
  EDGE_TRY(fs::WriteFileAtomic(dir / "key.pem", key_pem, 0600));
  EDGE_TRY(fs::WriteFileAtomic(dir / "cert.pem", resp.certificate_pem(), 0600));
  EDGE_ASSIGN_OR_RETURN(auto info, crypto::ParseCertificate(resp.certificate_pem()));
  not_before_ = info.not_before;
  not_after_ = info.not_after;
  log::Info("enrolled", {{"device", resp.device_id()}, {"site", resp.site()}, {"fleet", resp.fleet()}});
  return Identity{resp.device_id(), resp.certificate_pem(), key_pem, *ca};
}

Status IdentityManager::RecoverRenewal(const std::filesystem::path& dir) {
  const auto next = dir / "key.pem.next";
  std::error_code ec;
  if (!std::filesystem::exists(next, ec)) return Ok();
  EDGE_ASSIGN_OR_RETURN(auto cert, fs::ReadFile(dir / "cert.pem", 64 * 1024));
  EDGE_ASSIGN_OR_RETURN(auto next_pem, fs::ReadFile(next, 64 * 1024));
  auto next_key = crypto::PrivateKey::FromPem(next_pem);
  const bool use_next = next_key && crypto::CertificateMatchesKey(cert, *next_key).value_or(false);
  if (use_next) {
    if (::rename(next.c_str(), (dir / "key.pem").c_str()) != 0)
      return Fail(ErrorCode::kIo, "cannot promote " + next.string() + ": " + fs::ErrnoText(errno));
    log::Info("completed an interrupted certificate renewal");
  } else {
    ::unlink(next.c_str());
    log::Info("discarded the key of an interrupted certificate renewal");
  }
  return fs::FsyncPath(dir);
}

bool IdentityManager::RenewalDue() const {
  const int64_t lifetime = not_after_ - not_before_;
  return lifetime > 0 && clock_.NowUnix() >= not_before_ + lifetime * 2 / 3;
}

Result<RenewalRequest> IdentityManager::MakeRenewalRequest() const {
  // A new key for every certificate; it is made here and never leaves the device.
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::GenerateP256());
  EDGE_ASSIGN_OR_RETURN(auto key_pem, key.ToPem());
  EDGE_ASSIGN_OR_RETURN(auto csr, crypto::CreateCsr(key, config_.device_name));
  return RenewalRequest{key_pem, csr};
}

Status IdentityManager::InstallRenewed(const std::string& cert_pem, const std::string& key_pem) {
  EDGE_ASSIGN_OR_RETURN(auto info, crypto::ParseCertificate(cert_pem));
  if (info.subject_cn != config_.device_name)
    return Fail(ErrorCode::kPermissionDenied, "renewed certificate is for '" + info.subject_cn + "'");
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::FromPem(key_pem));
  if (!crypto::CertificateMatchesKey(cert_pem, key).value_or(false))
    return Fail(ErrorCode::kPermissionDenied, "renewed certificate does not match the key of the renewal request");
  // Crash-safe order: the new key beside the old one, then the certificate, then the key.
  const auto dir = Dir();
  EDGE_TRY(fs::WriteFileAtomic(dir / "key.pem.next", key_pem, 0600));
  EDGE_TRY(fs::WriteFileAtomic(dir / "cert.pem", cert_pem, 0600));
  EDGE_TRY(RecoverRenewal(dir));
  not_before_ = info.not_before;
  not_after_ = info.not_after;
  log::Info("certificate renewed", {{"serial", info.serial_hex}, {"not_after", info.not_after}});
  return Ok();
}

}  // namespace edge::agent
