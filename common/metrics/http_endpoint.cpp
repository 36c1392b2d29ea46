// /metrics over plain HTTP/1.1 on a thread of its own (Boost.Asio and Beast), serving a
// MemoryRegistry's Exposition(). Asynchronous, so a client that connects and says nothing holds
// one socket until its deadline and never a worker: other scrapes go on. Bounded: at most
// kMaxConnections at once (a new one beyond that closes the oldest, so idle connections cannot
// lock scrapers out), 4 KiB of request header, no body, one request per connection, 5 s from
// accept to the last byte written.
#include <list>
#include <memory>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "common/metrics/endpoint.h"
#include "common/metrics/memory_registry.h"

namespace edge::metrics {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

constexpr int kMaxConnections = 64;
constexpr auto kDeadline = std::chrono::seconds(5);
constexpr uint32_t kMaxHeaderBytes = 4096;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, const MemoryRegistry& registry, int& active)
      : socket_(std::move(socket)), timer_(socket_.get_executor()), registry_(registry), active_(active) {
    ++active_;
  }
  ~Session() { --active_; }

  void Close() {
    error_code ec;
    timer_.cancel();
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }

  void Start() {
    timer_.expires_after(kDeadline);
    timer_.async_wait([self = shared_from_this()](const error_code& ec) {
      if (!ec) self->Close();  // too slow: the deadline covers the whole exchange
    });
    parser_.header_limit(kMaxHeaderBytes);
    parser_.body_limit(0);
    http::async_read(socket_, buffer_, parser_, [self = shared_from_this()](const error_code& ec, size_t) {
      if (ec) {
        if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::operation_aborted)
          return self->Close();
        return self->Answer(http::status::bad_request, "bad request: " + ec.message() + "\n");
      }
      const auto& request = self->parser_.get();
      if (request.method() != http::verb::get && request.method() != http::verb::head)
        return self->Answer(http::status::method_not_allowed, "GET /metrics\n");
      const auto target = request.target();
      const auto path = target.substr(0, target.find('?'));
      if (path != "/metrics") return self->Answer(http::status::not_found, "not found: the metrics are at /metrics\n");
      self->Answer(http::status::ok, self->registry_.Exposition(), "text/plain; version=0.0.4; charset=utf-8",
                   request.method() == http::verb::head);
    });
  }

 private:
  void Answer(http::status status, std::string body, const char* type = "text/plain; charset=utf-8",
              bool head = false) {
    response_.version(11);
    response_.result(status);
    response_.set(http::field::content_type, type);
    response_.set(http::field::cache_control, "no-store");
    response_.keep_alive(false);
    response_.body() = std::move(body);
    response_.prepare_payload();
    if (head) response_.body().clear();  // the length of what GET would send, no body
    http::async_write(socket_, response_, [self = shared_from_this()](const error_code&, size_t) { self->Close(); });
  }

  tcp::socket socket_;
  asio::steady_timer timer_;
  boost::beast::flat_buffer buffer_{kMaxHeaderBytes + 1024};
  http::request_parser<http::empty_body> parser_;
  http::response<http::string_body> response_;
  const MemoryRegistry& registry_;
  int& active_;  // the I/O thread's count of open sessions
};

class HttpEndpoint final : public Endpoint {
 public:
  HttpEndpoint() : acceptor_(io_), retry_(io_) {}
  ~HttpEndpoint() override {
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }

  Status Bind(const ListenAddress& address) {
    error_code ec;
    const tcp::endpoint endpoint(asio::ip::make_address(address.host, ec), address.port);
    if (ec) return Fail(ErrorCode::kBadConfig, "metrics endpoint " + address.ToString() + ": " + ec.message());
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Fail(ErrorCode::kBadConfig, "cannot serve metrics on " + address.ToString() +
                                             " (in use, or not an address of this host): " + ec.message());
    port_ = acceptor_.local_endpoint(ec).port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
    return Ok();
  }

  Registry& registry() override { return registry_; }
  uint16_t port() const override { return port_; }

 private:
  void Accept() {
    acceptor_.async_accept([this](const error_code& ec, tcp::socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (ec) {  // EMFILE and the like: pause, then try again
        retry_.expires_after(std::chrono::milliseconds(100));
        retry_.async_wait([this](const error_code& wait_ec) {
          if (!wait_ec) Accept();
        });
        return;
      }
      sessions_.remove_if([](const std::weak_ptr<Session>& w) { return w.expired(); });
      if (active_ >= kMaxConnections && !sessions_.empty()) {
        if (auto oldest = sessions_.front().lock()) oldest->Close();
        sessions_.pop_front();
      }
      auto session = std::make_shared<Session>(std::move(socket), registry_, active_);
      sessions_.push_back(session);
      session->Start();
      Accept();
    });
  }

  // The registry and the count outlive the sessions that io_ destroys: declared before it.
  MemoryRegistry registry_;
  int active_ = 0;
  std::list<std::weak_ptr<Session>> sessions_;  // oldest first (I/O thread)
  asio::io_context io_;
  tcp::acceptor acceptor_;
  asio::steady_timer retry_;
  std::thread thread_;
  uint16_t port_ = 0;
};

}  // namespace

Result<std::unique_ptr<Endpoint>> Endpoint::Start(const ListenAddress& address) {
  auto endpoint = std::make_unique<HttpEndpoint>();
  EDGE_TRY(endpoint->Bind(address));
  return std::unique_ptr<Endpoint>(std::move(endpoint));
}

}  // namespace edge::metrics
