// `edgectl pki`: creates a fleet's whole PKI and release keys in one directory, issues and
// renews operator certificates, renews the controller's certificate.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/core/result.h"
#include "common/crypto/x509.h"

namespace edge::edgectl {

struct PkiInitOptions {
  std::filesystem::path dir;
  std::string fleet;
  std::vector<std::string> controller_hosts;  // DNS names or IP addresses
  std::string operator_name = "admin";
  std::string release_key_name = "release-1";
  int64_t now = 0;
};

// Refuses to touch a directory that already holds a PKI. Private keys are written 0600.
Status PkiInit(const PkiInitOptions& options);

// Issues another operator certificate from an existing PKI directory.
Status PkiIssueOperator(const std::filesystem::path& dir, const std::string& fleet, const std::string& name);

// Certificate lifetimes: renewals may choose 1 day to 10 years.
inline constexpr int kOperatorCertDays = 90;
inline constexpr int kControllerCertDays = 365;
inline constexpr int kMaxCertDays = 3650;

// A new key and certificate for an existing operator, from DIR/operator-ca.key, with the same
// name and SPIFFE ID (spiffe://<fleet>/operator/<name>; the current certificate must carry it
// and chain to DIR/operator-ca.pem). DIR/operators/NAME.{key,pem} are replaced by
// InstallKeyPair. Returns the new certificate.
Result<crypto::CertInfo> PkiRenewOperator(const std::filesystem::path& dir, const std::string& fleet,
                                          const std::string& name, int days = kOperatorCertDays);

// A new key and certificate for the controller, from DIR/fleet-ca.key, with the current
// certificate's CN, SANs (DNS, IP, URI) and key usages. Replaces DIR/controller.{key,pem} by
// InstallKeyPair; a controller whose listeners use tls::ServerCredentialsFromFiles serves it
// within its refresh interval. Returns the new certificate.
Result<crypto::CertInfo> PkiRenewController(const std::filesystem::path& dir, int days = kControllerCertDays);

// Installs a matching key and certificate as STEM.key (0600) and STEM.pem. Both are first written
// in full beside them (STEM.key.new, STEM.pem.new, fsynced); the current pair, if it matches, is
// copied to STEM.{key,pem}.old; then the certificate and the key are each renamed into place.
// So no file is ever partly written, and the only mismatched state, after a crash between the
// two renames, is the new certificate with the old key: the controller refuses to start on it
// and running the renewal again installs a fresh matching pair (keeping the last good .old).
Status InstallKeyPair(const std::filesystem::path& stem, const std::string& key_pem, const std::string& cert_pem);

}  // namespace edge::edgectl
