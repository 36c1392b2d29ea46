#include "controller/daemon/key_material.h"

#include <string>

#include "common/crypto/x509.h"
#include "common/tls/grpc_tls.h"

namespace edge::controller {
namespace {

std::string Named(std::string_view key, const std::string& path) { return std::string(key) + " " + path; }

Status Bad(std::string message) { return Fail(ErrorCode::kBadConfig, std::move(message)); }

Result<crypto::PrivateKey> ReadKey(std::string_view key, const std::string& path, const ServiceUser& self) {
  EDGE_ASSIGN_OR_RETURN(auto pem, ReadPrivateKeyFile(key, path, self));
  if (pem.find("-----BEGIN ") == std::string::npos)
    return Fail(ErrorCode::kBadConfig, std::string(key) + ": " + path + " is not a PEM file");
  auto parsed = crypto::PrivateKey::FromPem(pem);
  if (!parsed) return Fail(ErrorCode::kBadConfig, Named(key, path) + ": not a usable private key (" + parsed.error().message + ")");
  return parsed;
}

// A certificate; a trust anchor (`self` given) also under the owner, ACL and path rules
// (private_key_file.h).
Result<std::string> ReadCert(std::string_view key, const std::string& path, const ServiceUser* self = nullptr) {
  auto pem = self ? ReadGuardedFile(key, path, FileKind::kTrustAnchor, *self) : tls::ReadPem(path);
  if (!pem) return Fail(ErrorCode::kBadConfig, self ? pem.error().message : std::string(key) + ": " + pem.error().message);
  if (pem->find("-----BEGIN ") == std::string::npos)
    return Fail(ErrorCode::kBadConfig, std::string(key) + ": " + path + " is not a PEM file");
  if (auto info = crypto::ParseCertificate(*pem); !info)
    return Fail(ErrorCode::kBadConfig, Named(key, path) + ": not a certificate (" + info.error().message + ")");
  return pem;
}

Status CheckPair(std::string_view cert_key, const std::string& cert_path, const std::string& cert_pem,
                 std::string_view key_key, const std::string& key_path, const crypto::PrivateKey& key) {
  auto matches = crypto::CertificateMatchesKey(cert_pem, key);
  if (!matches) return Bad(Named(key_key, key_path) + ": " + matches.error().message);
  if (!*matches)
    return Bad(Named(key_key, key_path) + " is not the key of " + Named(cert_key, cert_path) +
               " (their public keys differ)");
  return Ok();
}

}  // namespace

Status CheckKeyMaterial(const ControllerConfig& c, int64_t now, const ServiceUser& self) {
  // Who may read or replace the keys comes first: a key others can read is refused even when
  // the rest would not work either.
  EDGE_TRY(ReadPrivateKeyFile("fleet_ca_key", c.fleet_ca_key, self));
  EDGE_TRY(ReadPrivateKeyFile("server_key", c.server_key, self));
  EDGE_ASSIGN_OR_RETURN(auto ca_pem, ReadCert("fleet_ca_cert", c.fleet_ca_cert, &self));
  EDGE_ASSIGN_OR_RETURN(auto ca_key, ReadKey("fleet_ca_key", c.fleet_ca_key, self));
  EDGE_TRY(CheckPair("fleet_ca_cert", c.fleet_ca_cert, ca_pem, "fleet_ca_key", c.fleet_ca_key, ca_key));
  EDGE_ASSIGN_OR_RETURN(auto server_pem, ReadCert("server_cert", c.server_cert));
  if (auto chained = crypto::VerifyCertificate(server_pem, ca_pem, now); !chained)
    return Bad(Named("server_cert", c.server_cert) + " is not a valid certificate from " +
               Named("fleet_ca_cert", c.fleet_ca_cert) + ": " + chained.error().message);
  // A certificate for clients only (a device's, an operator's) chains fine but every client
  // refuses it as a server's.
  if (auto info = crypto::ParseCertificate(server_pem); !info || !info->server_auth)
    return Bad(Named("server_cert", c.server_cert) + " is not a server certificate (no serverAuth in its extended key "
                                                     "usage): is it a device's or an operator's? (edgectl pki renew-controller makes one)");
  EDGE_ASSIGN_OR_RETURN(auto server_key, ReadKey("server_key", c.server_key, self));
  EDGE_TRY(CheckPair("server_cert", c.server_cert, server_pem, "server_key", c.server_key, server_key));
  EDGE_TRY(ReadCert("operator_ca_cert", c.operator_ca_cert, &self));
  return Ok();
}

}  // namespace edge::controller
