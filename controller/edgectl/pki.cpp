#include "controller/edgectl/pki.h"

#include <arpa/inet.h>

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

Status IssueLeaf(const Ca& ca, const crypto::CertSpec& spec, const std::filesystem::path& stem) {
  EDGE_ASSIGN_OR_RETURN(auto key, crypto::PrivateKey::GenerateP256());
  EDGE_ASSIGN_OR_RETURN(auto cert, crypto::IssueCertificate({ca.cert, &ca.key}, key, spec));
  EDGE_ASSIGN_OR_RETURN(auto key_pem, key.ToPem());
  EDGE_TRY(WritePrivate(stem.string() + ".key", key_pem));
  return fs::WriteFileAtomic(stem.string() + ".pem", cert);
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
