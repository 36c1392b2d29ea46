#include "controller/net/front.h"

#include <array>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "common/core/log.h"
#include "common/crypto/openssl_handles.h"
#include "controller/net/admission.h"
#include "controller/net/client_hello.h"
#include "controller/net/handed_off.h"
#include "controller/net/tally.h"

namespace edge::controller::net {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr auto kAcceptRetryPause = std::chrono::milliseconds(100);
constexpr auto kTickPeriod = std::chrono::seconds(1);
constexpr auto kLogPeriod = std::chrono::seconds(10);
constexpr auto kSweepPeriod = std::chrono::seconds(10);
// Handed-off connections are checked for closing every kHandoffCheckPeriod (a getsockopt each,
// about 1 us: 10 ms for 10,000), and at once when a new connection meets a full cap, at most
// once per kHandoffRecheckPause (a flood at a cap must not turn into a sweep per accept).
constexpr auto kHandoffCheckPeriod = std::chrono::seconds(5);
constexpr auto kHandoffRecheckPause = std::chrono::seconds(1);

std::string NumericAddress(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

// ALPN: gRPC clients offer "h2" and insist on it; the web side speaks only HTTP/1.1. `arg`
// is the wire-format protocol the listener selects (kH2 or kHttp11).
const unsigned char kH2[] = {2, 'h', '2'};
const unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in, unsigned int in_len,
               void* arg) {
  const auto* wanted = static_cast<const unsigned char*>(arg);
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, wanted, wanted[0] + 1u, in, in_len) != OPENSSL_NPN_NEGOTIATED)
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

// What a TLS context the front terminates with is made of.
struct TlsFiles {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;  // set: a client certificate that verifies against it is required
  const unsigned char* alpn = kH2;
};

// The SSL context of a TLS-terminated listener. Rebuilt when the certificate or key file
// changes (checked at most once a second, on the front's thread); a pair that does not load
// keeps the previous context serving and is logged.
class TlsContext {
 public:
  explicit TlsContext(TlsFiles files) : files_(std::move(files)) {}

  Status Load() {
    EDGE_ASSIGN_OR_RETURN(current_, Build());
    times_ = Times();
    return Ok();
  }

  std::shared_ptr<asio::ssl::context> Current() {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_check_ < std::chrono::seconds(1)) return current_;
    last_check_ = now;
    const auto times = Times();
    if (times == times_) return current_;
    auto fresh = Build();
    if (!fresh) {
      log::Warn("front: the new certificate/key pair does not load; the previous one keeps serving",
                {{"error", fresh.error().message}});
      return current_;
    }
    log::Info("front: certificate reloaded", {{"cert", files_.cert_file}, {"client_ca", files_.client_ca_file}});
    current_ = *fresh;
    times_ = times;
    return current_;
  }

 private:
  // The files' modification times: the client CA too (an operator CA replaced because it was
  // compromised must stop being trusted here as it does on gRPC).
  std::array<std::filesystem::file_time_type, 3> Times() const {
    return {MTime(files_.cert_file), MTime(files_.key_file),
            files_.client_ca_file.empty() ? std::filesystem::file_time_type{} : MTime(files_.client_ca_file)};
  }

  static std::filesystem::file_time_type MTime(const std::string& path) {
    std::error_code ec;
    return std::filesystem::last_write_time(path, ec);
  }

  Result<std::shared_ptr<asio::ssl::context>> Build() const {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
    error_code ec;
    ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                         asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1,
                     ec);
    SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_RENEGOTIATION);
    ctx->use_certificate_chain_file(files_.cert_file, ec);
    if (ec) return Fail(ErrorCode::kBadConfig, "server certificate " + files_.cert_file + ": " + ec.message());
    ctx->use_private_key_file(files_.key_file, asio::ssl::context::pem, ec);
    if (ec) return Fail(ErrorCode::kBadConfig, "server key " + files_.key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
      return Fail(ErrorCode::kBadConfig, "server key " + files_.key_file + " does not match " + files_.cert_file);
    if (!files_.client_ca_file.empty()) {
      ctx->load_verify_file(files_.client_ca_file, ec);
      if (ec) return Fail(ErrorCode::kBadConfig, "client CA " + files_.client_ca_file + ": " + ec.message());
      // Named in the CertificateRequest, so that a browser offers only certificates from it.
      STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files_.client_ca_file.c_str());
      if (names == nullptr) return Fail(ErrorCode::kBadConfig, "client CA " + files_.client_ca_file + ": no certificate");
      SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
      ctx->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
      // No resumption: every connection verifies the client certificate again (an expired or
      // replaced one is not carried on by a ticket). The context id is what OpenSSL needs to
      // refuse a resumption attempt cleanly instead of failing the handshake.
      static const unsigned char kContextId[] = "edgefleet-web";
      SSL_CTX_set_session_id_context(ctx->native_handle(), kContextId, sizeof kContextId - 1);
      SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_OFF);
      SSL_CTX_set_num_tickets(ctx->native_handle(), 0);  // TLS 1.3
      SSL_CTX_set_options(ctx->native_handle(), SSL_OP_NO_TICKET);  // TLS 1.2's stateless tickets
      // Browsers all speak TLS 1.3; nothing older is needed on this side.
      SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_3_VERSION);
    }
    SSL_CTX_set_alpn_select_cb(ctx->native_handle(), SelectAlpn, const_cast<unsigned char*>(files_.alpn));
    return ctx;
  }

  TlsFiles files_;
  std::shared_ptr<asio::ssl::context> current_;
  std::array<std::filesystem::file_time_type, 3> times_{};
  std::chrono::steady_clock::time_point last_check_{};
};

// Read buffer of a TLS-terminated connection: OpenSSL needs one posted for every read, so it
// is small (these listeners carry enrollments, a few KiB each).
constexpr size_t kTlsReadBytes = 4096;

// The verified client certificate of a terminated TLS connection, as PEM ("" if none).
std::string PeerCertificatePem(SSL* ssl) {
  crypto::detail::X509Ptr cert(SSL_get1_peer_certificate(ssl));
  return cert ? crypto::detail::CertPem(cert.get()) : std::string();
}

// Lets a web handler answer from any thread while the front may be stopping: posts to the
// front's loop only while it exists.
class LoopPoster {
 public:
  explicit LoopPoster(asio::io_context& io) : io_(&io) {}
  template <typename F>
  void Post(F f) {
    std::lock_guard lock(mu_);
    if (io_) asio::post(*io_, std::move(f));
  }
  void Detach() {
    std::lock_guard lock(mu_);
    io_ = nullptr;
  }

 private:
  std::mutex mu_;
  asio::io_context* io_;
};

}  // namespace

// Everything below runs on the front's I/O thread, except what says otherwise.
struct ConnectionFront::Impl {
  struct Listener {
    Listener(asio::io_context& io, ListenerKind k) : kind(k), acceptor(io), retry(io) {}
    ListenerKind kind;
    tcp::acceptor acceptor;
    tcp::endpoint upstream;
    asio::steady_timer retry;
    std::string last_accept_error;
    std::shared_ptr<TlsContext> tls;  // set: the front terminates TLS and guards HTTP/2
    H2GuardLimits guard;
    std::chrono::milliseconds tls_idle{0};
    std::shared_ptr<TlsContext> web_tls;  // set: HTTP/1.1 clients are served by web.handler
    WebTermination web;
    Handoff handoff;  // set: connections go to it instead of `upstream`
  };
  class Connection;

  explicit Impl(const ConnectionLimits& l)
      : limits(l), admission(l), tally(kLogPeriod), tick(io), last_sweep(std::chrono::steady_clock::now()),
        poster(std::make_shared<LoopPoster>(io)) {}

  Result<ListenEndpoint> Bind(std::unique_ptr<Listener> l, const std::string& public_address);
  void Accept(Listener& l);
  void OnAccepted(Listener& l, tcp::socket socket);
  bool TakeProbe(const tcp::endpoint& remote);
  bool HandOff(Listener& l, int fd, std::string first_bytes, const ClientAddress& client, bool probe);
  void ReleaseClosedHandoffs();
  void Tick();
  void CloseAll();

  // io first: destroyed last, after the handlers (and the connections they own) it holds.
  asio::io_context io;
  ConnectionLimits limits;
  Admission admission;
  EventTally tally;
  PeerDirectory peers;
  std::vector<std::unique_ptr<Listener>> listeners;
  std::unordered_set<std::shared_ptr<Connection>> connections;
  asio::steady_timer tick;
  Instant last_sweep;
  std::thread thread;
  std::atomic<bool> stopped{false};
  std::shared_ptr<LoopPoster> poster;  // web handlers' answers come back through it

  std::mutex probes_mu;  // any thread
  std::set<std::pair<std::string, uint16_t>> probes;

  HandedOffConnections handed_off;
  Instant last_handoff_check{};
  // Held around each hand-off, so that once StopAccepting has closed it none is under way.
  std::mutex handoff_mu;
  bool handoff_open = true;

  std::atomic<int64_t> active{0}, accepted{0}, refused{0}, timed_out{0}, accept_errors{0}, upstream_failures{0},
      guard_closed{0}, handed_off_now{0};
};

// One client connection and, once it has sent its first bytes, its twin to gRPC. Each
// direction reads only when the socket is readable and holds a buffer only until the chunk
// is written: an idle connection holds no buffer.
class ConnectionFront::Impl::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Impl& front, Listener& listener, tcp::socket client, ClientAddress address, bool probe)
      : front_(front), listener_(listener), client_(std::move(client)), upstream_(front.io), timer_(front.io),
        address_(std::move(address)), probe_(probe) {}

  void Start() {
    error_code ec;
    client_.non_blocking(true, ec);
    client_.set_option(tcp::no_delay(true), ec);
    ArmTimer(std::chrono::milliseconds(front_.limits.first_bytes_timeout_ms), [](Connection& c) {
      c.front_.tally.Count(c.listener_.kind, "first_bytes_timeout");
      ++c.front_.timed_out;
      c.Close(true);
    });
    if (listener_.web_tls) return ReadHello();
    if (!listener_.tls) return WaitFirstBytes();
    // The handshake, then the first bytes in clear, must come within the same deadline.
    guard_.emplace(listener_.guard);
    ssl_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(client_, *listener_.tls->Current());
    ssl_->async_handshake(asio::ssl::stream_base::server, [self = shared_from_this()](const error_code& ec) {
      if (self->closed_) return;
      if (ec) {
        // The self-check's probe stops after the ServerHello by design: not worth a log line.
        if (!self->probe_) self->front_.tally.Count(self->listener_.kind, "tls_handshake_failed");
        return self->Close(true);
      }
      self->ReadTls(kUp, [](Connection& c, size_t n) { c.ConnectUpstream(n); });
    });
  }

  // Idempotent. `reset`: send RST, keep no TIME_WAIT (limits and timeouts cut attackers).
  void Close(bool reset = false) {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    if (reset) client_.set_option(asio::socket_base::linger(true, 0), ec);
    client_.close(ec);
    upstream_.close(ec);
    timer_.cancel();
    if (registered_port_) front_.peers.Remove(listener_.kind, *registered_port_);
    if (!probe_) {
      front_.admission.Release(listener_.kind, address_.source_key, std::chrono::steady_clock::now());
      --front_.active;
    }
    front_.connections.erase(shared_from_this());
  }

 private:
  enum Dir { kUp = 0, kDown = 1 };  // kUp: client → gRPC, kDown: gRPC → client

  // Reads the client's next bytes in clear (TLS-terminated listeners), runs them through the
  // HTTP/2 guard and hands them to `then`.
  template <typename Then>
  void ReadTls(Dir d, Then then) {
    auto& buf = buffers_[d];
    buf.reset(new char[kTlsReadBytes]);
    ssl_->async_read_some(asio::buffer(buf.get(), kTlsReadBytes),
                          [self = shared_from_this(), d, then](const error_code& ec, size_t n) {
                            if (self->closed_) return;
                            if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return self->OnEof(d);
                            if (ec) return self->Close();
                            auto why = self->guard_->Feed(std::string_view(self->buffers_[d].get(), n),
                                                          std::chrono::steady_clock::now());
                            if (!why.empty()) {
                              self->front_.tally.Count(self->listener_.kind, "h2_guard");
                              ++self->front_.guard_closed;
                              log::Debug("front: HTTP/2 guard closed a connection",
                                         {{"client", self->address_.ToString()}, {"why", why}});
                              return self->Close(true);
                            }
                            then(*self, n);
                          });
  }

  template <typename F>
  void ArmTimer(std::chrono::steady_clock::duration after, F on_expiry) {
    const uint64_t generation = ++timer_generation_;
    timer_.expires_after(after);
    timer_.async_wait([self = shared_from_this(), generation, on_expiry](const error_code& ec) {
      // A re-armed timer may still deliver an expiry queued before; the generation drops it.
      if (ec || self->closed_ || generation != self->timer_generation_) return;
      on_expiry(*self);
    });
  }

  void WaitFirstBytes() {
    client_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
      if (self->closed_) return;
      if (ec) return self->Close();
      auto& buf = self->buffers_[kUp];
      buf.reset(new char[static_cast<size_t>(self->front_.limits.buffer_bytes)]);
      error_code rec;
      const size_t n = self->client_.read_some(asio::buffer(buf.get(), self->BufferSize()), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) {
        buf.reset();
        return self->WaitFirstBytes();
      }
      if (rec) return self->Close();  // gone before saying anything
      if (self->listener_.handoff) return self->HandOff(n);
      self->ConnectUpstream(n);
    });
  }

  // The socket and its first `n` bytes go to the listener's handoff; the front keeps only
  // what it needs to release the admission slot once the connection has closed.
  void HandOff(size_t n) {
    std::string first_bytes(buffers_[kUp].get(), n);
    buffers_[kUp].reset();
    error_code ec;
    const int fd = client_.release(ec);
    if (ec) return Close();
    closed_ = true;
    timer_.cancel();
    if (!front_.HandOff(listener_, fd, std::move(first_bytes), address_, probe_) && !probe_) {
      front_.admission.Release(listener_.kind, address_.source_key, std::chrono::steady_clock::now());
      --front_.active;
    }
    front_.connections.erase(shared_from_this());
  }

  void ConnectUpstream(size_t first_chunk) {
    ArmTimer(std::chrono::milliseconds(front_.limits.connect_timeout_ms), [](Connection& c) {
      c.UpstreamFailed("connect timed out");
    });
    upstream_.async_connect(listener_.upstream, [self = shared_from_this(), first_chunk](const error_code& ec) {
      if (self->closed_) return;
      if (ec) return self->UpstreamFailed(ec.message());
      self->OnUpstreamConnected(first_chunk);
    });
  }

  void UpstreamFailed(const std::string& why) {
    front_.tally.Count(listener_.kind, "upstream_failed");
    ++front_.upstream_failures;
    log::Debug("front: cannot reach the internal listener", {{"listener", ListenerName(listener_.kind)}, {"error", why}});
    Close(true);
  }

  void OnUpstreamConnected(size_t first_chunk) {
    error_code ec;
    upstream_.set_option(tcp::no_delay(true), ec);
    upstream_.non_blocking(true, ec);
    const auto local = upstream_.local_endpoint(ec);
    if (ec) return UpstreamFailed(ec.message());
    registered_port_ = local.port();
    std::weak_ptr<Connection> weak = shared_from_this();
    auto executor = front_.io.get_executor();
    front_.peers.Add(listener_.kind, local.port(), address_, [weak, executor] {
      asio::post(executor, [weak] {
        if (auto c = weak.lock()) c->Close();
      });
    });
    Touch();
    ArmIdleTimer(IdleLimit());
    Write(kUp, first_chunk);
    Pump(kDown);
  }

  std::chrono::steady_clock::duration IdleLimit() const {
    if (listener_.tls) return listener_.tls_idle;
    return std::chrono::seconds(front_.limits.idle_timeout_seconds);
  }

  void ArmIdleTimer(std::chrono::steady_clock::duration after) {
    ArmTimer(after, [](Connection& c) {
      const auto limit = c.IdleLimit();
      const auto quiet = std::chrono::steady_clock::now() - c.last_activity_;
      // On a guarded listener a connection that has not opened a stream by now holds a slot
      // for nothing (HTTP/2 chatter without a request).
      const bool no_request = c.guard_ && c.guard_->streams() == 0;
      if (quiet < limit && !no_request) return c.ArmIdleTimer(limit - quiet);
      c.front_.tally.Count(c.listener_.kind, "idle_timeout");
      ++c.front_.timed_out;
      c.Close(true);
    });
  }

  tcp::socket& From(Dir d) { return d == kUp ? client_ : upstream_; }
  tcp::socket& To(Dir d) { return d == kUp ? upstream_ : client_; }
  size_t BufferSize() const { return static_cast<size_t>(front_.limits.buffer_bytes); }
  void Touch() { last_activity_ = std::chrono::steady_clock::now(); }

  void Pump(Dir d) {
    if (d == kUp && ssl_) return ReadTls(d, [](Connection& c, size_t n) { c.Write(kUp, n); });
    From(d).async_wait(tcp::socket::wait_read, [self = shared_from_this(), d](const error_code& ec) {
      if (self->closed_) return;
      if (ec) return self->Close();
      auto& buf = self->buffers_[d];
      buf.reset(new char[self->BufferSize()]);
      error_code rec;
      const size_t n = self->From(d).read_some(asio::buffer(buf.get(), self->BufferSize()), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) {
        buf.reset();
        return self->Pump(d);
      }
      if (rec == asio::error::eof) return self->OnEof(d);
      if (rec) return self->Close();
      self->Write(d, n);
    });
  }

  void Write(Dir d, size_t n) {
    Touch();
    auto done = [self = shared_from_this(), d](const error_code& ec, size_t) {
      if (self->closed_) return;
      self->buffers_[d].reset();
      if (ec) return self->Close();
      self->Touch();
      self->Pump(d);
    };
    if (d == kDown && ssl_) return asio::async_write(*ssl_, asio::buffer(buffers_[d].get(), n), done);
    asio::async_write(To(d), asio::buffer(buffers_[d].get(), n), done);
  }

  void OnEof(Dir d) {
    buffers_[d].reset();
    // gRPC closing its end means it is done with the connection; the client closing its
    // sending side may still want the answer, so that half is passed on.
    if (d == kDown) return Close();
    error_code ec;
    upstream_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec) Close();
  }

  // --- Listeners with a web side: the ClientHello decides (client_hello.h). ---

  void ReadHello() {
    client_.async_wait(tcp::socket::wait_read, [self = shared_from_this()](const error_code& ec) {
      if (self->closed_) return;
      if (ec) return self->Close();
      char chunk[4096];
      error_code rec;
      const size_t n = self->client_.read_some(asio::buffer(chunk), rec);
      if (rec == asio::error::would_block || rec == asio::error::try_again) return self->ReadHello();
      if (rec) return self->Close();
      self->hello_.append(chunk, n);
      switch (ClassifyClientHello(self->hello_)) {
        case HelloVerdict::kIncomplete: return self->ReadHello();
        case HelloVerdict::kHttp1: return self->StartWeb();
        case HelloVerdict::kOther: return self->SpliceHello();
      }
    });
  }

  // Not a browser: on to gRPC with what was read so far as the first chunk.
  void SpliceHello() {
    const size_t n = hello_.size();
    buffers_[kUp].reset(new char[n]);
    std::copy(hello_.begin(), hello_.end(), buffers_[kUp].get());
    std::string().swap(hello_);
    ConnectUpstream(n);
  }

  struct WebState {
    boost::beast::flat_buffer buffer{kMaxRequestHeaderBytes + 1024};
    std::optional<boost::beast::http::request_parser<boost::beast::http::empty_body>> parser;
    boost::beast::http::response<boost::beast::http::string_body> response;
    std::string client_cert_pem;
    int served = 0;
  };

  std::chrono::milliseconds WebTimeout() const { return std::chrono::milliseconds(listener_.web.request_timeout_ms); }

  void WebTimedOut(const char* what) {
    front_.tally.Count(listener_.kind, what);
    ++front_.timed_out;
    Close(true);
  }

  void StartWeb() {
    web_ = std::make_unique<WebState>();
    ssl_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(client_, *listener_.web_tls->Current());
    ArmTimer(WebTimeout(), [](Connection& c) { c.WebTimedOut("web_timeout"); });
    ssl_->async_handshake(asio::ssl::stream_base::server, asio::buffer(hello_),
                          [self = shared_from_this()](const error_code& ec, size_t) {
                            if (self->closed_) return;
                            std::string().swap(self->hello_);
                            if (ec) {
                              // No certificate, or one the operator CA did not issue.
                              self->front_.tally.Count(self->listener_.kind, "web_tls_refused");
                              log::Debug("front: web client refused in the TLS handshake",
                                         {{"client", self->address_.ToString()}, {"error", ec.message()}});
                              // Not reset: an alert already written may then reach the browser,
                              // which names the problem (ERR_BAD_SSL_CLIENT_AUTH_CERT).
                              return self->Close();
                            }
                            self->web_->client_cert_pem = PeerCertificatePem(self->ssl_->native_handle());
                            self->ReadRequest(self->WebTimeout());
                          });
  }

  void ReadRequest(std::chrono::milliseconds within) {
    namespace http = boost::beast::http;
    ArmTimer(within, [](Connection& c) { c.WebTimedOut("web_timeout"); });
    web_->parser.emplace();
    web_->parser->header_limit(static_cast<uint32_t>(kMaxRequestHeaderBytes));
    web_->parser->body_limit(0);
    http::async_read(*ssl_, web_->buffer, *web_->parser, [self = shared_from_this()](const error_code& ec, size_t) {
      if (self->closed_) return;
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
        return self->Close();
      if (ec) return self->AnswerWeb({400, "text/plain; charset=utf-8", "bad request: " + ec.message() + "\n"}, false);
      const auto& request = self->web_->parser->get();
      if (request.method() != http::verb::get)
        return self->AnswerWeb({405, "text/plain; charset=utf-8", "the dashboard is read-only: GET only\n"}, false);
      if (request.target().size() > kMaxTargetBytes)
        return self->AnswerWeb({414, "text/plain; charset=utf-8", "request target too long\n"}, false);
      // A page elsewhere that makes the browser send requests here (with the operator's
      // certificate, which browsers present on their own) gets nothing and costs nothing.
      const auto site = request["Sec-Fetch-Site"];
      if (site == "cross-site" || site == "same-site")
        return self->AnswerWeb({403, "text/plain; charset=utf-8", "cross-site requests are refused\n"}, false);
      self->ArmTimer(self->WebTimeout(), [](Connection& c) { c.WebTimedOut("web_handler_timeout"); });
      WebRequest web_request{"GET", std::string(request.target()), self->web_->client_cert_pem, self->address_};
      std::weak_ptr<Connection> weak = self;
      self->listener_.web.handler(std::move(web_request), [weak, poster = self->front_.poster](WebResponse response) {
        poster->Post([weak, response = std::move(response)]() mutable {
          if (auto c = weak.lock(); c && !c->closed_) c->AnswerWeb(std::move(response), true);
        });
      });
    });
  }

  // A kept-alive connection: idle until the next request's first bytes (idle_timeout_ms), then
  // the whole request within request_timeout_ms like the first.
  void AwaitNextRequest() {
    if (web_->buffer.size() > 0) return ReadRequest(WebTimeout());  // pipelined
    ArmTimer(std::chrono::milliseconds(listener_.web.idle_timeout_ms), [](Connection& c) { c.Close(); });
    ssl_->async_read_some(web_->buffer.prepare(1024), [self = shared_from_this()](const error_code& ec, size_t n) {
      if (self->closed_) return;
      if (ec) return self->Close();
      self->web_->buffer.commit(n);
      self->ReadRequest(self->WebTimeout());
    });
  }

  // Writes `answer`; keeps the connection for the next request when both sides want to.
  void AnswerWeb(WebResponse answer, bool may_keep_alive) {
    namespace http = boost::beast::http;
    const bool keep_alive = may_keep_alive && web_->parser && web_->parser->is_done() &&
                            web_->parser->get().keep_alive() &&
                            ++web_->served < listener_.web.max_requests_per_connection;
    auto& r = web_->response;
    r = {};
    r.version(11);
    r.result(static_cast<unsigned>(answer.status));
    r.set(http::field::content_type, answer.content_type);
    r.set(http::field::cache_control, "no-store");
    r.set("Content-Security-Policy", kContentSecurityPolicy);
    r.set("X-Content-Type-Options", "nosniff");
    r.set("X-Frame-Options", "DENY");
    r.set("Referrer-Policy", "no-referrer");
    r.set("Cross-Origin-Resource-Policy", "same-origin");
    r.body() = std::move(answer.body);
    r.keep_alive(keep_alive);
    r.prepare_payload();
    ArmTimer(WebTimeout(), [](Connection& c) { c.WebTimedOut("web_write_timeout"); });
    http::async_write(*ssl_, r, [self = shared_from_this(), keep_alive](const error_code& ec, size_t) {
      if (self->closed_) return;
      if (ec || !keep_alive) return self->Close();
      self->AwaitNextRequest();
    });
  }

  Impl& front_;
  Listener& listener_;
  tcp::socket client_;
  tcp::socket upstream_;
  asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  ClientAddress address_;
  bool probe_;
  bool closed_ = false;
  std::optional<uint16_t> registered_port_;
  std::unique_ptr<char[]> buffers_[2];
  std::chrono::steady_clock::time_point last_activity_{};
  // TLS-terminated listeners only; after client_, which it refers to.
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> ssl_;
  std::optional<H2Guard> guard_;
  std::string hello_;                 // web-enabled listeners: the ClientHello read so far
  std::unique_ptr<WebState> web_;     // set once the client is a browser
};

bool ConnectionFront::Impl::HandOff(Listener& l, int fd, std::string first_bytes, const ClientAddress& client,
                                    bool probe) {
  // The cookie before the hand-off: from then on gRPC may close the socket at any time, and
  // the number may name another one.
  const auto cookie = SocketCookie(fd);
  std::unique_lock lock(handoff_mu);
  if (!handoff_open || !cookie) {
    lock.unlock();
    ::close(fd);
    return false;
  }
  if (!probe) {
    if (auto closed = handed_off.Add(fd, *cookie, HandedOff{l.kind, client.source_key})) {
      admission.Release(closed->listener, closed->source_key, std::chrono::steady_clock::now());
      --active;
    } else {
      ++handed_off_now;
    }
  }
  l.handoff(l.acceptor.native_handle(), fd, std::move(first_bytes));
  return true;
}

void ConnectionFront::Impl::ReleaseClosedHandoffs() {
  const auto now = std::chrono::steady_clock::now();
  last_handoff_check = now;
  for (const auto& closed : handed_off.Sweep(SocketCookie)) {
    admission.Release(closed.listener, closed.source_key, now);
    --active;
    --handed_off_now;
  }
}

void ConnectionFront::Impl::Accept(Listener& l) {
  l.acceptor.async_accept([this, &l](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !l.acceptor.is_open()) return;
    if (ec) {
      // EMFILE, ENFILE, ENOBUFS, ...: the pending connection stays in the backlog. Pause and
      // try again; never give the listener up (gRPC 1.51 does, which is what this fixes).
      ++accept_errors;
      tally.Count(l.kind, "accept_error");
      l.last_accept_error = ec.message();
      l.retry.expires_after(kAcceptRetryPause);
      l.retry.async_wait([this, &l](const error_code& wait_ec) {
        if (!wait_ec) Accept(l);
      });
      return;
    }
    OnAccepted(l, std::move(socket));
    Accept(l);
  });
}

bool ConnectionFront::Impl::TakeProbe(const tcp::endpoint& remote) {
  std::lock_guard lock(probes_mu);
  return probes.erase({NumericAddress(remote.address()), remote.port()}) > 0;
}

void ConnectionFront::Impl::OnAccepted(Listener& l, tcp::socket socket) {
  error_code ec;
  const auto remote = socket.remote_endpoint(ec);
  if (ec) return;  // already reset by the client
  ClientAddress address{NumericAddress(remote.address()), remote.port(), {}};
  address.source_key = SourceKeyOf(address.address);
  const bool probe = TakeProbe(remote);
  if (!probe) {
    const auto now = std::chrono::steady_clock::now();
    // A slot may be held by a handed-off connection that has closed since the last check.
    if (handed_off.size() > 0 && now - last_handoff_check >= kHandoffRecheckPause &&
        admission.AtCap(l.kind, address.source_key))
      ReleaseClosedHandoffs();
    const auto verdict = admission.TryAdmit(l.kind, address.source_key, now);
    if (verdict != Verdict::kAdmit) {
      tally.Count(l.kind, VerdictName(verdict));
      ++refused;
      socket.set_option(asio::socket_base::linger(true, 0), ec);  // RST: no TIME_WAIT for floods
      socket.close(ec);
      return;
    }
    ++active;
    ++accepted;
  }
  auto connection = std::make_shared<Connection>(*this, l, std::move(socket), std::move(address), probe);
  connections.insert(connection);
  connection->Start();
}

void ConnectionFront::Impl::Tick() {
  const auto now = std::chrono::steady_clock::now();
  if (now - last_handoff_check >= kHandoffCheckPeriod) ReleaseClosedHandoffs();
  if (auto summary = tally.TakeSummary(now)) {
    nlohmann::json fields = {{"counts", *summary}, {"active", active.load()},
                             {"period_seconds", std::chrono::seconds(kLogPeriod).count()}};
    for (const auto& l : listeners)
      if (!l->last_accept_error.empty()) fields["last_accept_error"][ListenerName(l->kind)] = l->last_accept_error;
    log::Warn("front: connections refused or cut", fields);
  }
  if (now - last_sweep >= kSweepPeriod) {
    admission.Sweep(now);
    last_sweep = now;
  }
  tick.expires_after(kTickPeriod);
  tick.async_wait([this](const error_code& ec) {
    if (!ec && !stopped) Tick();
  });
}

void ConnectionFront::Impl::CloseAll() {
  for (auto& l : listeners) {
    error_code ec;
    l->acceptor.close(ec);
    l->retry.cancel();
  }
  tick.cancel();
  auto all = connections;  // Close() erases from the set
  for (auto& c : all) c->Close();
}

ConnectionFront::ConnectionFront(const ConnectionLimits& limits) : impl_(std::make_unique<Impl>(limits)) {}

ConnectionFront::~ConnectionFront() { Stop(); }

Result<ListenEndpoint> ConnectionFront::AddListener(ListenerKind kind, const std::string& public_address,
                                                    uint16_t internal_port, const std::optional<TlsTermination>& tls,
                                                    const std::optional<WebTermination>& web) {
  if (tls && web) return Fail(ErrorCode::kInternal, "a listener cannot both terminate gRPC's TLS and serve the web");
  auto l = std::make_unique<Impl::Listener>(impl_->io, kind);
  if (tls) {
    l->tls = std::make_shared<TlsContext>(TlsFiles{tls->cert_file, tls->key_file, {}, kH2});
    EDGE_TRY(l->tls->Load());
    l->guard = tls->guard;
    l->tls_idle = std::chrono::milliseconds(tls->idle_timeout_ms);
  }
  if (web) {
    l->web_tls = std::make_shared<TlsContext>(TlsFiles{web->cert_file, web->key_file, web->client_ca_file, kHttp11});
    EDGE_TRY(l->web_tls->Load());
    l->web = *web;
  }
  l->upstream = tcp::endpoint(asio::ip::address_v4::loopback(), internal_port);
  return impl_->Bind(std::move(l), public_address);
}

Result<ListenEndpoint> ConnectionFront::AddHandoffListener(ListenerKind kind, const std::string& public_address,
                                                           Handoff handoff) {
  if (!handoff) return Fail(ErrorCode::kInternal, "a handoff listener needs a handoff");
  auto l = std::make_unique<Impl::Listener>(impl_->io, kind);
  l->handoff = std::move(handoff);
  return impl_->Bind(std::move(l), public_address);
}

Result<ListenEndpoint> ConnectionFront::Impl::Bind(std::unique_ptr<Listener> l, const std::string& public_address) {
  EDGE_ASSIGN_OR_RETURN(auto wanted, ParseListenAddress(public_address));
  const tcp::endpoint endpoint(asio::ip::make_address(wanted.address), wanted.port);
  error_code ec;
  auto fail = [&](const char* step) {
    return Fail(ErrorCode::kUnavailable, "cannot listen on " + public_address + " (" + step + ": " + ec.message() +
                                             "; in use, or not an address of this host?)");
  };
  l->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("socket");
  l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  // "[::]:port" takes IPv4 clients too, as gRPC's listener did.
  if (endpoint.address().is_v6() && endpoint.address().is_unspecified())
    l->acceptor.set_option(asio::ip::v6_only(false), ec);
  l->acceptor.bind(endpoint, ec);
  // The two a config names: exit 78, not "unavailable" (no SO_REUSEPORT: a second controller
  // never shares the port with the first).
  if (ec == asio::error::address_in_use)
    return Fail(ErrorCode::kBadConfig, "cannot listen on " + public_address +
                                           ": the address is in use by another process (another controller?)");
  if (ec == boost::system::errc::address_not_available)
    return Fail(ErrorCode::kBadConfig, "cannot listen on " + public_address + ": not an address of this host");
  if (ec) return fail("bind");
  l->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen");
  const auto bound = l->acceptor.local_endpoint(ec);
  if (ec) return fail("getsockname");
  listeners.push_back(std::move(l));
  ListenEndpoint out{bound.address().to_string(), bound.port()};
  if (bound.address().is_unspecified())
    out.address = bound.address().is_v6() ? "::1" : "127.0.0.1";
  return out;
}

void ConnectionFront::Start() {
  for (auto& l : impl_->listeners) impl_->Accept(*l);
  impl_->Tick();
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void ConnectionFront::StopAccepting() {
  {
    std::lock_guard lock(impl_->handoff_mu);
    impl_->handoff_open = false;
  }
  asio::post(impl_->io, [impl = impl_.get()] {
    for (auto& l : impl->listeners) {
      error_code ec;
      l->acceptor.close(ec);
      l->retry.cancel();
    }
  });
}

void ConnectionFront::Stop() {
  if (!impl_ || impl_->stopped.exchange(true)) return;
  if (impl_->thread.joinable()) {
    asio::post(impl_->io, [impl = impl_.get()] { impl->CloseAll(); });
    impl_->thread.join();
  } else {
    impl_->CloseAll();
  }
  impl_->poster->Detach();
}

const PeerDirectory& ConnectionFront::peers() const { return impl_->peers; }

FrontStats ConnectionFront::stats() const {
  return FrontStats{impl_->active.load(),        impl_->accepted.load(),      impl_->refused.load(),
                    impl_->timed_out.load(),     impl_->accept_errors.load(), impl_->upstream_failures.load(),
                    impl_->guard_closed.load(),  impl_->handed_off_now.load()};
}

void ConnectionFront::ExpectProbe(const ListenEndpoint& from) {
  std::lock_guard lock(impl_->probes_mu);
  impl_->probes.insert({from.address, from.port});
}

void ConnectionFront::ForgetProbe(const ListenEndpoint& from) {
  std::lock_guard lock(impl_->probes_mu);
  impl_->probes.erase({from.address, from.port});
}

}  // namespace edge::controller::net
