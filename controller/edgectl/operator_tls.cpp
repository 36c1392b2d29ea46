#include "controller/edgectl/operator_tls.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "common/core/posix_file.h"
#include "common/core/text.h"
#include "common/crypto/openssl_handles.h"
#include "common/crypto/x509.h"
#include "common/tls/connect_timeouts.h"
#include "controller/edgectl/controller_address.h"

namespace edge::edgectl {
namespace {

using Clock = std::chrono::steady_clock;

std::string Date(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

using crypto::detail::BioPtr;
using crypto::detail::Deleter;
using crypto::detail::PkeyPtr;
using crypto::detail::X509Ptr;
using SslCtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;

// Writing to a connection the peer has closed (it refused our certificate) raises SIGPIPE,
// which would end edgectl without a word: blocked on this thread while the retrace runs, and
// a SIGPIPE it raised is taken off the pending set before the old mask comes back.
class SigpipeBlocked {
 public:
  SigpipeBlocked() {
    sigemptyset(&pipe_);
    sigaddset(&pipe_, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_, &old_);
  }
  ~SigpipeBlocked() {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_, nullptr, &zero) == SIGPIPE) {
    }
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }
  SigpipeBlocked(const SigpipeBlocked&) = delete;
  SigpipeBlocked& operator=(const SigpipeBlocked&) = delete;

 private:
  sigset_t pipe_{}, old_{};
};

int MillisLeft(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left < 0 ? 0 : static_cast<int>(left);
}

bool WaitFd(int fd, short events, Clock::time_point deadline) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int n = ::poll(&p, 1, MillisLeft(deadline));
    if (n > 0) return true;
    if (n == 0) return false;
    if (errno != EINTR) return true;  // let the next call report the error
  }
}

// The reason of the last OpenSSL error when it is a TLS alert the peer sent about our
// certificate ("unknown ca", "certificate expired", ...); empty otherwise.
std::string PeerCertificateAlert() {
  unsigned long e = 0;
  std::string alert;
  while ((e = ERR_get_error()) != 0) {
    switch (ERR_GET_REASON(e)) {
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
      case SSL_R_TLSV1_ALERT_ACCESS_DENIED: {
        const char* r = ERR_reason_error_string(e);
        alert = r ? r : "certificate refused";
        break;
      }
      default: break;
    }
  }
  return alert;
}

std::string NamesOf(const std::string& cert_pem) {
  auto info = crypto::ParseCertificate(cert_pem);
  if (!info) return "?";
  std::string names;
  for (const auto* list : {&info->dns_sans, &info->ip_sans})
    for (const auto& n : *list) names += (names.empty() ? "" : ", ") + n;
  return names.empty() ? "no DNS or IP names" : text::TerminalSafe(names);  // the server's words
}

// Keeps the controller's certificate (depth 0) in the SSL's app data (a std::string), for the
// message when it does not name the host: a failed handshake keeps no peer certificate.
int KeepLeaf(int ok, X509_STORE_CTX* store) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  auto* leaf = ssl ? static_cast<std::string*>(SSL_get_app_data(ssl)) : nullptr;
  if (leaf && X509_STORE_CTX_get_error_depth(store) == 0)
    if (X509* cert = X509_STORE_CTX_get_current_cert(store)) *leaf = crypto::detail::CertPem(cert);
  return ok;
}

}  // namespace

Status CheckOperatorKeyMaterial(const OperatorTlsFiles& f, int64_t now) {
  if (auto ca = crypto::ParseCertificate(f.ca_pem); !ca)
    return Fail(ErrorCode::kBadConfig, "context ca " + f.ca_path + ": not a certificate (" + ca.error().message + ")");
  auto cert = crypto::ParseCertificate(f.cert_pem);
  if (!cert)
    return Fail(ErrorCode::kBadConfig, "context cert " + f.cert_path + ": not a certificate (" + cert.error().message + ")");
  auto key = crypto::PrivateKey::FromPem(f.key_pem);
  if (!key)
    return Fail(ErrorCode::kBadConfig, "context key " + f.key_path + ": not a usable private key (" + key.error().message + ")");
  auto matches = crypto::CertificateMatchesKey(f.cert_pem, *key);
  if (!matches || !*matches)
    return Fail(ErrorCode::kBadConfig, "context key " + f.key_path + " is not the key of context cert " + f.cert_path);
  if (now > cert->not_after)
    return Fail(ErrorCode::kUnauthenticated, "the operator certificate " + f.cert_path + " expired at " +
                                                 Date(cert->not_after) +
                                                 "; get a new one: edgectl pki renew-operator (or ask your fleet admin)");
  if (now < cert->not_before)
    return Fail(ErrorCode::kUnauthenticated, "the operator certificate " + f.cert_path + " is not valid until " +
                                                 Date(cert->not_before) + " (is this machine's clock right? it says " +
                                                 Date(now) + ")");
  return Ok();
}

Error DiagnoseOperatorConnection(const std::string& address, const OperatorTlsFiles& f,
                                 std::chrono::milliseconds timeout, const Error& fallback) {
  const Error& unknown = fallback;
  auto parsed = ParseControllerAddress(address);
  if (!parsed) return unknown;
  const std::string& host = parsed->host;
  const std::string& port = parsed->port;
  const auto deadline = Clock::now() + timeout;

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0)
    return {ErrorCode::kUnavailable, "cannot resolve the controller's host '" + host + "': " + gai_strerror(rc)};
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addresses(found, &::freeaddrinfo);

  // TCP: the first address that answers (as gRPC tries them).
  int last_errno = 0;
  bool timed_out = false;
  fs::UniqueFd sock;
  for (addrinfo* a = found; a != nullptr && !sock.valid(); a = a->ai_next) {
    fs::UniqueFd fd(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (!fd.valid()) {
      last_errno = errno;
      continue;
    }
    if (::connect(fd.get(), a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last_errno = errno;
      continue;
    }
    if (!WaitFd(fd.get(), POLLOUT, deadline)) {
      timed_out = true;
      break;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      last_errno = err;
      continue;
    }
    sock = std::move(fd);
  }
  // Which step ran out, then the same words edgectl says when gRPC's attempt timed out.
  const std::string within = " within the connect timeout of " + std::to_string(timeout.count()) + " ms: " +
                             std::string(tls::kConnectTimeoutTooShort) +
                             "; raise --connect-timeout-ms or the context's connect_timeout_ms";
  if (!sock.valid()) {
    if (timed_out)
      return {ErrorCode::kDeadlineExceeded, "no TCP connection to the controller at " + address + within};
    if (last_errno == ECONNREFUSED)
      return {ErrorCode::kUnavailable,
              "nothing listens at " + address + " (connection refused): is the controller running, and is this its operator port?"};
    return {ErrorCode::kUnavailable, "cannot reach the controller at " + address + ": " + std::strerror(last_errno)};
  }

  // TLS with the context's files, verifying the controller as gRPC does (CA and host name).
  const SigpipeBlocked no_sigpipe;
  ERR_clear_error();
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return unknown;
  {
    BioPtr bio(BIO_new_mem_buf(f.ca_pem.data(), static_cast<int>(f.ca_pem.size())));
    while (X509* ca = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(SSL_CTX_get_cert_store(ctx.get()), ca);
      X509_free(ca);
    }
    BioPtr cbio(BIO_new_mem_buf(f.cert_pem.data(), static_cast<int>(f.cert_pem.size())));
    X509Ptr cert(PEM_read_bio_X509(cbio.get(), nullptr, nullptr, nullptr));
    BioPtr kbio(BIO_new_mem_buf(f.key_pem.data(), static_cast<int>(f.key_pem.size())));
    PkeyPtr key(PEM_read_bio_PrivateKey(kbio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
    if (!cert || !key || SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 ||
        SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1)
      return unknown;
  }
  ERR_clear_error();
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, KeepLeaf);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_CTX_set_alpn_protos(ctx.get(), kAlpn, sizeof kAlpn);
  SslPtr ssl(SSL_new(ctx.get()));
  if (!ssl) return unknown;
  std::string leaf_pem;
  SSL_set_app_data(ssl.get(), &leaf_pem);
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) != 1) {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  }
  SSL_set_fd(ssl.get(), sock.get());

  // Runs one TLS step to completion or the deadline: 1 done, 0 timed out, -1 failed.
  auto step = [&](auto&& op) {
    for (;;) {
      const int rc = op();
      if (rc > 0) return 1;
      const int why = SSL_get_error(ssl.get(), rc);
      if (why == SSL_ERROR_WANT_READ || why == SSL_ERROR_WANT_WRITE) {
        if (!WaitFd(sock.get(), why == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline)) return 0;
        continue;
      }
      return -1;
    }
  };
  auto refused = [&](const std::string& alert) {
    return Error{ErrorCode::kUnauthenticated, "the controller refused the operator certificate " + f.cert_path +
                                                  " (TLS alert: " + alert +
                                                  "): the listener at " + address +
                                                  " does not take certificates from its issuer (the controller's operator port "
                                                  "takes those of its operator CA), or it is revoked"};
  };
  const int handshake = step([&] { return SSL_connect(ssl.get()); });
  if (handshake == 0)
    return {ErrorCode::kDeadlineExceeded, "the TLS handshake with the controller at " + address + " did not finish" +
                                              within};
  if (handshake < 0) {
    const long verify = SSL_get_verify_result(ssl.get());
    if (verify == X509_V_ERR_HOSTNAME_MISMATCH || verify == X509_V_ERR_IP_ADDRESS_MISMATCH) {
      const std::string names = NamesOf(leaf_pem);
      return {ErrorCode::kUnauthenticated, "the controller's certificate does not name '" + host + "' (it names " + names +
                                               "): use one of those in the context's controller address or --controller"};
    }
    if (verify != X509_V_OK)
      return {ErrorCode::kUnauthenticated, "the controller's certificate at " + address + " does not verify against the context's ca " +
                                               f.ca_path + ": " + X509_verify_cert_error_string(verify) +
                                               " (is this the right controller, and the right fleet's CA?)"};
    const std::string alert = PeerCertificateAlert();
    if (!alert.empty()) return refused(alert);
    return unknown;
  }
  // TLS 1.3: the server checks the client's certificate after the client has finished, and
  // says so in an alert on the first read. The HTTP/2 preface and an empty SETTINGS frame make
  // the server answer (its SETTINGS) when all is well.
  static const char kPreface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";
  constexpr int kPrefaceBytes = 24 + 9;
  ERR_clear_error();
  char buf[64];
  int done = step([&] { return SSL_write(ssl.get(), kPreface, kPrefaceBytes); });
  if (done > 0) done = step([&] { return SSL_read(ssl.get(), buf, sizeof buf); });
  if (done == 0) return {ErrorCode::kDeadlineExceeded, "the controller at " + address + " did not answer" + within};
  if (done < 0) {
    // gRPC's server ends the connection without an alert when it rejects a client certificate
    // (seen as an EOF right after the handshake); other servers send one.
    const std::string alert = PeerCertificateAlert();
    return refused(alert.empty() ? "none, the connection was closed unanswered" : alert);
  }
  return unknown;
}

}  // namespace edge::edgectl
