// X.509 issuing and checking on OpenSSL 3. Certificates are built field by field from a
// CertSpec; SANs are built as GENERAL_NAMEs (not via config strings) so that a name containing
// ',' or ':' cannot smuggle in extra entries.
#include "common/crypto/x509.h"

#include <arpa/inet.h>
#include <openssl/err.h>

#include <openssl/core_names.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <cstring>
#include <ctime>

#include "common/crypto/openssl_handles.h"

namespace edge::crypto {
namespace {

using namespace detail;  // NOLINT(google-build-using-namespace): RAII aliases only

constexpr size_t kMaxCsrBytes = size_t{16} * 1024;
constexpr size_t kMaxPemBytes = size_t{64} * 1024;

Status CheckP256(EVP_PKEY* key, std::string_view what) {
  char group[64] = {0};
  size_t len = 0;
  if (!EVP_PKEY_is_a(key, "EC") ||
      EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &len) !=
          1 ||
      (std::strcmp(group, "prime256v1") != 0 && std::strcmp(group, "P-256") != 0)) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": key is not an ECDSA P-256 key");
  }
  return Ok();
}

Result<X509Ptr> ReadCert(std::string_view pem, std::string_view what) {
  if (pem.size() > kMaxPemBytes) {
    return Fail(ErrorCode::kInvalidArgument, std::string(what) + ": PEM larger than 64 KiB");
  }
  auto bio = MemBio(pem);
  X509Ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!cert) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string(what) + ": not a PEM certificate: " + OpenSslError());
  }
  return cert;
}

Result<std::string> CertToPem(X509* cert) {
  auto pem = CertPem(cert);
  if (pem.empty()) return Fail(ErrorCode::kInternal, "writing certificate PEM failed: " + OpenSslError());
  return pem;
}

// Random positive serial of 16 bytes (RFC 5280 allows at most 20): the top bit is cleared so
// the DER INTEGER is positive without a leading zero byte; zero is retried.
Result<AsnIntPtr> RandomSerial() {
  unsigned char bytes[16];
  BnPtr bn;
  do {
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return Fail(ErrorCode::kInternal, "serial generation: RAND_bytes failed: " + OpenSslError());
    }
    bytes[0] &= 0x7f;
    bn.reset(BN_bin2bn(bytes, sizeof(bytes), nullptr));
    if (!bn) {
      return Fail(ErrorCode::kInternal, "serial generation failed: " + OpenSslError());
    }
  } while (BN_is_zero(bn.get()));
  AsnIntPtr serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
  if (!serial) {
    return Fail(ErrorCode::kInternal, "serial generation failed: " + OpenSslError());
  }
  return serial;
}

Status AddConfExt(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  X509ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) {
    return Fail(ErrorCode::kInternal, std::string("adding extension ") + OBJ_nid2sn(nid) + "=" +
                                          value + " failed: " + OpenSslError());
  }
  return Ok();
}

Status AddGeneralName(GENERAL_NAMES* names, int type, std::string_view value) {
  GENERAL_NAME* gen = GENERAL_NAME_new();
  if (!gen) {
    return Fail(ErrorCode::kInternal, "allocating SAN entry failed");
  }
  if (type == GEN_IPADD) {
    std::string text(value);
    ASN1_OCTET_STRING* ip = a2i_IPADDRESS(text.c_str());
    if (!ip) {
      GENERAL_NAME_free(gen);
      ERR_clear_error();
      return Fail(ErrorCode::kInvalidArgument, "IP SAN '" + text + "' is not an IPv4/IPv6 address");
    }
    GENERAL_NAME_set0_value(gen, GEN_IPADD, ip);
  } else {
    ASN1_IA5STRING* str = ASN1_IA5STRING_new();
    if (!str || ASN1_STRING_set(str, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(str);
      GENERAL_NAME_free(gen);
      return Fail(ErrorCode::kInternal, "allocating SAN string failed");
    }
    GENERAL_NAME_set0_value(gen, type, str);
  }
  if (sk_GENERAL_NAME_push(names, gen) == 0) {
    GENERAL_NAME_free(gen);
    return Fail(ErrorCode::kInternal, "appending SAN entry failed");
  }
  return Ok();
}

bool IsIa5Printable(std::string_view s) {
  for (char c : s) {
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) {
      return false;
    }
  }
  return !s.empty();
}

Status AddSans(X509* cert, const CertSpec& spec) {
  if (spec.uri_sans.empty() && spec.dns_sans.empty() && spec.ip_sans.empty()) {
    return Ok();
  }
  GeneralNamesPtr names(GENERAL_NAMES_new());
  if (!names) {
    return Fail(ErrorCode::kInternal, "allocating SAN list failed");
  }
  for (const auto& uri : spec.uri_sans) {
    if (!IsIa5Printable(uri)) {
      return Fail(ErrorCode::kInvalidArgument, "URI SAN '" + uri + "' has invalid characters");
    }
    EDGE_TRY(AddGeneralName(names.get(), GEN_URI, uri));
  }
  for (const auto& dns : spec.dns_sans) {
    if (!IsIa5Printable(dns)) {
      return Fail(ErrorCode::kInvalidArgument, "DNS SAN '" + dns + "' has invalid characters");
    }
    EDGE_TRY(AddGeneralName(names.get(), GEN_DNS, dns));
  }
  for (const auto& ip : spec.ip_sans) {
    EDGE_TRY(AddGeneralName(names.get(), GEN_IPADD, ip));
  }
  // Critical only when the subject is empty (RFC 5280 §4.2.1.6); ours always has a CN.
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return Fail(ErrorCode::kInternal, "adding subjectAltName failed: " + OpenSslError());
  }
  return Ok();
}

// Builds and signs a certificate for `subject_pub`. `issuer_cert` null means self-signed.
Result<std::string> BuildCertificate(EVP_PKEY* subject_pub, X509* issuer_cert, EVP_PKEY* issuer_key,
                                     const CertSpec& spec) {
  const std::string what = "issuing certificate for '" + spec.common_name + "'";
  if (spec.common_name.empty() || spec.common_name.size() > 64) {
    return Fail(ErrorCode::kInvalidArgument, what + ": common name must be 1..64 bytes");
  }
  if (spec.validity.count() <= 0) {
    return Fail(ErrorCode::kInvalidArgument, what + ": validity must be positive");
  }
  X509Ptr cert(X509_new());
  if (!cert) {
    return Fail(ErrorCode::kInternal, what + ": X509_new failed");
  }
  EDGE_ASSIGN_OR_RETURN(auto serial, RandomSerial());
  const long backdate = static_cast<long>(spec.backdate.count());
  const long validity = static_cast<long>(spec.validity.count());
  X509NamePtr subject(X509_NAME_new());
  if (X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_serialNumber(cert.get(), serial.get()) != 1 ||
      X509_gmtime_adj(X509_getm_notBefore(cert.get()), -backdate) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert.get()), validity) == nullptr || !subject ||
      X509_NAME_add_entry_by_NID(subject.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(spec.common_name.data()),
                                 static_cast<int>(spec.common_name.size()), -1, 0) != 1 ||
      X509_set_subject_name(cert.get(), subject.get()) != 1 ||
      X509_set_issuer_name(cert.get(),
                           issuer_cert ? X509_get_subject_name(issuer_cert) : subject.get()) != 1 ||
      X509_set_pubkey(cert.get(), subject_pub) != 1) {
    return Fail(ErrorCode::kInternal, what + ": setting fields failed: " + OpenSslError());
  }

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert ? issuer_cert : cert.get(), cert.get(), nullptr, nullptr, 0);
  if (spec.is_ca) {
    EDGE_TRY(AddConfExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:TRUE"));
    EDGE_TRY(AddConfExt(cert.get(), &ctx, NID_key_usage,
                        "critical,keyCertSign,cRLSign,digitalSignature"));
  } else {
    EDGE_TRY(AddConfExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    EDGE_TRY(AddConfExt(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
  }
  if (spec.server_auth || spec.client_auth) {
    std::string eku = spec.server_auth && spec.client_auth ? "serverAuth,clientAuth"
                      : spec.server_auth                   ? "serverAuth"
                                                           : "clientAuth";
    EDGE_TRY(AddConfExt(cert.get(), &ctx, NID_ext_key_usage, eku.c_str()));
  }
  EDGE_TRY(AddConfExt(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  EDGE_TRY(AddConfExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  EDGE_TRY(AddSans(cert.get(), spec));

  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) {
    return Fail(ErrorCode::kInternal, what + ": signing failed: " + OpenSslError());
  }
  return CertToPem(cert.get());
}

// Loads the issuer's certificate and checks it is a CA matching the issuer's key.
Result<X509Ptr> LoadIssuer(const Issuer& issuer) {
  if (issuer.key == nullptr || issuer.key->native() == nullptr) {
    return Fail(ErrorCode::kInvalidArgument, "issuer: no private key");
  }
  EDGE_ASSIGN_OR_RETURN(auto cert, ReadCert(issuer.cert_pem, "issuer certificate"));
  if (X509_check_private_key(cert.get(), static_cast<EVP_PKEY*>(issuer.key->native())) != 1) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalidArgument,
                "issuer: private key does not match issuer certificate");
  }
  if (X509_check_ca(cert.get()) == 0) {
    return Fail(ErrorCode::kInvalidArgument, "issuer: certificate is not a CA");
  }
  return cert;
}

Result<int64_t> AsnTimeToUnix(const ASN1_TIME* t, std::string_view what) {
  struct tm tm {};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    return Fail(ErrorCode::kInvalidArgument,
                std::string("certificate: unreadable ") + std::string(what));
  }
  return static_cast<int64_t>(timegm(&tm));
}

}  // namespace

struct PrivateKey::Impl {
  PkeyPtr key;
};

PrivateKey::PrivateKey() : impl_(std::make_unique<Impl>()) {}
PrivateKey::~PrivateKey() = default;
PrivateKey::PrivateKey(PrivateKey&&) noexcept = default;
PrivateKey& PrivateKey::operator=(PrivateKey&&) noexcept = default;

void* PrivateKey::native() const { return impl_ ? impl_->key.get() : nullptr; }

Result<PrivateKey> PrivateKey::GenerateP256() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (!key) {
    return Fail(ErrorCode::kInternal, "generating P-256 key failed: " + OpenSslError());
  }
  PrivateKey out;
  out.impl_->key = std::move(key);
  return out;
}

Result<PrivateKey> PrivateKey::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) {
    return Fail(ErrorCode::kInvalidArgument, "private key: PEM larger than 64 KiB");
  }
  if (pem.find("ENCRYPTED") != std::string_view::npos)
    return Fail(ErrorCode::kInvalidArgument,
                "private key: it is encrypted (a passphrase-protected PEM); edgefleet needs an unencrypted key file "
                "protected by its mode (openssl pkey -in KEY -out PLAIN.key)");
  auto bio = MemBio(pem);
  // No passphrase callback: OpenSSL's default would prompt on the terminal and wait.
  auto no_passphrase = [](char*, int, int, void*) { return 0; };
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
  if (!key) {
    return Fail(ErrorCode::kInvalidArgument,
                "private key: not a PEM private key: " + OpenSslError());
  }
  EDGE_TRY(CheckP256(key.get(), "private key"));
  PrivateKey out;
  out.impl_->key = std::move(key);
  return out;
}

Result<std::string> PrivateKey::ToPem() const {
  if (!impl_ || !impl_->key) {
    return Fail(ErrorCode::kInvalidArgument, "private key: empty key");
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1) {
    return Fail(ErrorCode::kInternal, "private key: writing PEM failed: " + OpenSslError());
  }
  return BioToString(bio.get());
}

Result<std::string> CreateSelfSignedCa(const PrivateKey& key, const CertSpec& spec) {
  auto* pkey = static_cast<EVP_PKEY*>(key.native());
  if (!pkey) {
    return Fail(ErrorCode::kInvalidArgument, "self-signed CA: empty key");
  }
  CertSpec ca = spec;
  ca.is_ca = true;
  return BuildCertificate(pkey, nullptr, pkey, ca);
}

Result<std::string> IssueCertificate(const Issuer& issuer, const PrivateKey& subject_key,
                                     const CertSpec& spec) {
  auto* pkey = static_cast<EVP_PKEY*>(subject_key.native());
  if (!pkey) {
    return Fail(ErrorCode::kInvalidArgument, "issue certificate: empty subject key");
  }
  EDGE_ASSIGN_OR_RETURN(auto issuer_cert, LoadIssuer(issuer));
  return BuildCertificate(pkey, issuer_cert.get(), static_cast<EVP_PKEY*>(issuer.key->native()),
                          spec);
}

Result<std::string> CreateCsr(const PrivateKey& key, std::string_view common_name) {
  auto* pkey = static_cast<EVP_PKEY*>(key.native());
  if (!pkey) {
    return Fail(ErrorCode::kInvalidArgument, "CSR: empty key");
  }
  if (common_name.empty() || common_name.size() > 64) {
    return Fail(ErrorCode::kInvalidArgument, "CSR: common name must be 1..64 bytes");
  }
  X509ReqPtr req(X509_REQ_new());
  X509NamePtr name(X509_NAME_new());
  if (!req || !name ||
      X509_NAME_add_entry_by_NID(name.get(), NID_commonName, MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(common_name.data()),
                                 static_cast<int>(common_name.size()), -1, 0) != 1 ||
      X509_REQ_set_version(req.get(), 0) != 1 ||
      X509_REQ_set_subject_name(req.get(), name.get()) != 1 ||
      X509_REQ_set_pubkey(req.get(), pkey) != 1 ||
      X509_REQ_sign(req.get(), pkey, EVP_sha256()) <= 0) {
    return Fail(ErrorCode::kInternal,
                "CSR for '" + std::string(common_name) + "': building failed: " + OpenSslError());
  }
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_REQ(bio.get(), req.get()) != 1) {
    return Fail(ErrorCode::kInternal, "CSR: writing PEM failed: " + OpenSslError());
  }
  return BioToString(bio.get());
}

Result<std::string> IssueFromCsr(const Issuer& issuer, std::string_view csr_pem,
                                 const CertSpec& spec) {
  if (csr_pem.size() > kMaxCsrBytes) {
    return Fail(ErrorCode::kInvalidArgument,
                "CSR: " + std::to_string(csr_pem.size()) + " bytes exceeds the 16 KiB limit");
  }
  auto bio = MemBio(csr_pem);
  X509ReqPtr req(bio ? PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!req) {
    return Fail(ErrorCode::kInvalidArgument,
                "CSR: not a PEM certificate request: " + OpenSslError());
  }
  EVP_PKEY* pub = X509_REQ_get0_pubkey(req.get());
  if (!pub) {
    return Fail(ErrorCode::kInvalidArgument, "CSR: no readable public key: " + OpenSslError());
  }
  if (!EVP_PKEY_is_a(pub, "ED25519") && !CheckP256(pub, "CSR")) {
    return Fail(ErrorCode::kInvalidArgument, "CSR: public key must be ECDSA P-256 or Ed25519");
  }
  // Proof of possession: the requester holds the private key for the key being certified.
  if (X509_REQ_verify(req.get(), pub) != 1) {
    ERR_clear_error();
    return Fail(ErrorCode::kInvalidArgument,
                "CSR: signature does not verify (no proof of key possession)");
  }
  EDGE_ASSIGN_OR_RETURN(auto issuer_cert, LoadIssuer(issuer));
  // Names and extensions come only from `spec`; the CSR's subject and attributes are ignored.
  return BuildCertificate(pub, issuer_cert.get(), static_cast<EVP_PKEY*>(issuer.key->native()),
                          spec);
}

Result<bool> CertificateMatchesKey(std::string_view cert_pem, const PrivateKey& key) {
  EDGE_ASSIGN_OR_RETURN(auto cert, ReadCert(cert_pem, "certificate"));
  ERR_clear_error();
  const bool match = X509_check_private_key(cert.get(), static_cast<EVP_PKEY*>(key.native())) == 1;
  ERR_clear_error();
  return match;
}

Result<CertInfo> ParseCertificate(std::string_view pem) {
  EDGE_ASSIGN_OR_RETURN(auto cert, ReadCert(pem, "certificate"));
  CertInfo info;
  X509_NAME* subject = X509_get_subject_name(cert.get());
  int idx = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
  if (idx >= 0) {
    ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
    unsigned char* utf8 = nullptr;
    int len = ASN1_STRING_to_UTF8(&utf8, data);
    if (len < 0) {
      return Fail(ErrorCode::kInvalidArgument, "certificate: unreadable subject CN");
    }
    info.subject_cn.assign(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
    OPENSSL_free(utf8);
  }
  GeneralNamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  if (names) {
    for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
      const GENERAL_NAME* gen = sk_GENERAL_NAME_value(names.get(), i);
      if (gen->type == GEN_URI || gen->type == GEN_DNS) {
        const ASN1_STRING* s = gen->type == GEN_URI ? gen->d.uniformResourceIdentifier : gen->d.dNSName;
        (gen->type == GEN_URI ? info.uri_sans : info.dns_sans)
            .emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                          static_cast<size_t>(ASN1_STRING_length(s)));
      } else if (gen->type == GEN_IPADD) {
        const ASN1_OCTET_STRING* ip = gen->d.iPAddress;
        const int len = ASN1_STRING_length(ip);
        char text[INET6_ADDRSTRLEN] = "";
        if ((len != 4 && len != 16) ||
            !inet_ntop(len == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(ip), text, sizeof text)) {
          return Fail(ErrorCode::kInvalidArgument, "certificate: malformed IP address SAN");
        }
        info.ip_sans.emplace_back(text);
      }
    }
  }
  // Without the extension X509_get_extended_key_usage answers "any purpose".
  const uint32_t xku =
      (X509_get_extension_flags(cert.get()) & EXFLAG_XKUSAGE) != 0 ? X509_get_extended_key_usage(cert.get()) : 0;
  info.server_auth = (xku & XKU_SSL_SERVER) != 0;
  info.client_auth = (xku & XKU_SSL_CLIENT) != 0;
  BnPtr serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  char* hex = serial ? BN_bn2hex(serial.get()) : nullptr;
  if (!hex) {
    return Fail(ErrorCode::kInvalidArgument, "certificate: unreadable serial number");
  }
  info.serial_hex = hex;
  OPENSSL_free(hex);
  for (auto& c : info.serial_hex) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  EDGE_ASSIGN_OR_RETURN(info.not_before,
                        AsnTimeToUnix(X509_get0_notBefore(cert.get()), "notBefore"));
  EDGE_ASSIGN_OR_RETURN(info.not_after, AsnTimeToUnix(X509_get0_notAfter(cert.get()), "notAfter"));
  BasicConstraintsPtr bc(static_cast<BASIC_CONSTRAINTS*>(
      X509_get_ext_d2i(cert.get(), NID_basic_constraints, nullptr, nullptr)));
  info.is_ca = bc && bc->ca != 0;
  return info;
}

Status VerifyCertificate(std::string_view cert_pem, std::string_view ca_pem, int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto cert, ReadCert(cert_pem, "certificate to verify"));
  EDGE_ASSIGN_OR_RETURN(auto ca, ReadCert(ca_pem, "CA certificate"));
  X509StorePtr store(X509_STORE_new());
  X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!store || !ctx || X509_STORE_add_cert(store.get(), ca.get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr) != 1) {
    return Fail(ErrorCode::kInternal, "certificate verify: setup failed: " + OpenSslError());
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_USE_CHECK_TIME | X509_V_FLAG_X509_STRICT);
  X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    ERR_clear_error();
    char cn[256] = "?";
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof(cn));
    return Fail(ErrorCode::kUnauthenticated,
                std::string("certificate '") + cn +
                    "' does not verify against the CA: " + X509_verify_cert_error_string(err));
  }
  return Ok();
}

}  // namespace edge::crypto
