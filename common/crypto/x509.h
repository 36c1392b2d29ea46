// X.509 for the fleet's TLS identities: ECDSA P-256 keys, CSRs, CAs and leaf certificates
// carrying a SPIFFE URI SAN. Identity is always set by the issuer, never copied from a CSR.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/result.h"

namespace edge::crypto {

// Owns an OpenSSL EVP_PKEY (ECDSA P-256). Move-only.
class PrivateKey {
 public:
  PrivateKey();
  ~PrivateKey();
  PrivateKey(PrivateKey&&) noexcept;
  PrivateKey& operator=(PrivateKey&&) noexcept;
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;

  static Result<PrivateKey> GenerateP256();
  static Result<PrivateKey> FromPem(std::string_view pem);
  Result<std::string> ToPem() const;  // PKCS#8 PEM, unencrypted
  void* native() const;               // EVP_PKEY*

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

struct CertSpec {
  std::string common_name;
  std::vector<std::string> uri_sans;  // e.g. spiffe://acme/device/gw-1
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;   // textual IPv4/IPv6
  bool is_ca = false;
  bool server_auth = false;
  bool client_auth = false;
  std::chrono::seconds validity{std::chrono::hours(24 * 365)};
  // Subtracted from "now" for notBefore, to tolerate small clock skew.
  std::chrono::seconds backdate{std::chrono::minutes(5)};
};

struct Issuer {
  std::string cert_pem;
  const PrivateKey* key = nullptr;
};

// A self-signed CA certificate for `key`.
Result<std::string> CreateSelfSignedCa(const PrivateKey& key, const CertSpec& spec);
// A certificate for `subject_key`'s public key signed by `issuer`.
Result<std::string> IssueCertificate(const Issuer& issuer, const PrivateKey& subject_key,
                                     const CertSpec& spec);

// CSR (PKCS#10) signed by `key`, with subject CN `common_name`.
Result<std::string> CreateCsr(const PrivateKey& key, std::string_view common_name);
// Verifies the CSR's self-signature (proof of possession), rejects non-P-256/Ed25519 keys and
// oversized input, then issues a certificate for the CSR's public key with `spec` as the only
// source of names: nothing requested in the CSR is copied.
Result<std::string> IssueFromCsr(const Issuer& issuer, std::string_view csr_pem,
                                 const CertSpec& spec);

struct CertInfo {
  std::string subject_cn;
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;  // textual, as inet_ntop writes them ("10.0.0.5", "::1")
  bool server_auth = false;          // extendedKeyUsage
  bool client_auth = false;
  std::string serial_hex;   // lower-case hex
  int64_t not_before = 0;   // unix seconds
  int64_t not_after = 0;    // unix seconds
  bool is_ca = false;
};

// Parses the first certificate in `pem`.
Result<CertInfo> ParseCertificate(std::string_view pem);
// Whether `cert_pem` certifies the public half of `key`.
Result<bool> CertificateMatchesKey(std::string_view cert_pem, const PrivateKey& key);
// Verifies that `cert_pem` chains to `ca_pem` (a single self-signed CA) at unix time `now`.
Status VerifyCertificate(std::string_view cert_pem, std::string_view ca_pem, int64_t now);

// spiffe://<fleet>/<kind>/<name>, kind is "device" or "operator" or "controller".
struct SpiffeId {
  std::string fleet;
  std::string kind;
  std::string name;
  std::string ToString() const { return "spiffe://" + fleet + "/" + kind + "/" + name; }
};
// Strict parse: exactly three path-free segments, names of [A-Za-z0-9._-]{1,64}.
Result<SpiffeId> ParseSpiffeId(std::string_view uri);
// Whether `name` is a valid fleet, device, operator or site name: [A-Za-z0-9._-]{1,64}.
bool IsValidName(std::string_view name);
// Whether `label` is a valid site or model name. Wider than IsValidName, because operators name
// sites and models freely (SQL metacharacters included; SQL is always bound, never built):
// 1–64 printable ASCII characters, none of '/', '\\' or ':' (':' separates name:version), not
// starting with '.' or '-', not "." or "..", no leading or trailing space. Safe as a single
// path component.
bool IsValidLabel(std::string_view label);
inline constexpr const char* kLabelRule =
    "1-64 printable ASCII characters without '/', '\\' or ':', not starting with '.' or '-'";

}  // namespace edge::crypto
