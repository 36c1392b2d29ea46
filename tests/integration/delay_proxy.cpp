// edge-delay-proxy: a TCP proxy for tests that makes loopback look like a slow link. Every
// chunk read from either side is written to the other `--delay-ms` later (one-way delay, so
// 150 ms gives a 300 ms round trip), in order; reading goes on meanwhile, so bytes in flight
// pipeline as on a real link. The kernel completes TCP's handshake on loopback at once, so the
// client's first chunk waits one round trip more: a ClientHello reaches the server 1.5 round
// trips after connect() began, as it would over the link.
//   edge-delay-proxy --target 127.0.0.1:7445 --delay-ms 150 [--listen 127.0.0.1:0] [--port-file F]
// Prints "listening on PORT" when ready (and writes PORT to --port-file). Stops on SIGTERM/SIGINT.
#include <chrono>
#include <csignal>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr size_t kReadBytes = 64 * 1024;
// Reading from a side stops while this much is queued for the other: a bound, not a model of
// the link's bandwidth.
constexpr size_t kMaxQueuedBytes = 8 << 20;

tcp::endpoint ParseEndpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos) throw CLI::ValidationError("address", "expected host:port, got '" + text + "'");
  return {asio::ip::make_address(text.substr(0, colon)), static_cast<unsigned short>(std::stoi(text.substr(colon + 1)))};
}

class Session;

// One direction of a session: reads `from`, writes each chunk to `to` once it is due.
class Direction {
 public:
  Direction(Session& session, tcp::socket& from, tcp::socket& to, Clock::duration delay, Clock::duration first_extra)
      : session_(session), from_(from), to_(to), delay_(delay), first_extra_(first_extra), timer_(from.get_executor()) {}

  void Start() { Read(); }
  bool done() const { return delivered_eof_; }
  void Cancel() { timer_.cancel(); }

 private:
  struct Chunk {
    Clock::time_point due;
    std::vector<char> bytes;  // empty: the sender closed its side
  };

  void Read();
  void Enqueue(std::vector<char> bytes) {
    auto due = Clock::now() + delay_;
    if (!first_seen_) {
      first_seen_ = true;
      due += first_extra_;
    }
    queued_bytes_ += bytes.size();
    queue_.push_back({due, std::move(bytes)});
    if (!writing_) WriteNext();
  }
  void WriteNext();

  Session& session_;
  tcp::socket& from_;
  tcp::socket& to_;
  Clock::duration delay_, first_extra_;
  asio::steady_timer timer_;
  std::deque<Chunk> queue_;
  size_t queued_bytes_ = 0;
  bool first_seen_ = false;
  bool writing_ = false;
  bool reading_paused_ = false;
  bool read_eof_ = false;
  bool delivered_eof_ = false;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket client, const tcp::endpoint& target, Clock::duration delay)
      : client_(std::move(client)),
        server_(client_.get_executor()),
        target_(target),
        up_(*this, client_, server_, delay, 2 * delay),
        down_(*this, server_, client_, delay, Clock::duration::zero()) {}

  void Start() {
    server_.async_connect(target_, [self = shared_from_this()](const error_code& ec) {
      if (ec) return self->Close();
      error_code ignored;
      self->client_.set_option(tcp::no_delay(true), ignored);
      self->server_.set_option(tcp::no_delay(true), ignored);
      self->up_.Start();
      self->down_.Start();
    });
  }

  // Both directions have passed their end of stream on, or one side failed.
  void MaybeFinish() {
    if (up_.done() && down_.done()) Close();
  }
  void Close() {
    if (closed_) return;
    closed_ = true;
    error_code ignored;
    client_.close(ignored);
    server_.close(ignored);
    up_.Cancel();
    down_.Cancel();
  }
  bool closed() const { return closed_; }
  std::shared_ptr<Session> Keep() { return shared_from_this(); }

 private:
  tcp::socket client_;
  tcp::socket server_;
  tcp::endpoint target_;
  Direction up_;
  Direction down_;
  bool closed_ = false;
};

void Direction::Read() {
  if (read_eof_ || session_.closed()) return;
  if (queued_bytes_ >= kMaxQueuedBytes) {
    reading_paused_ = true;
    return;
  }
  auto buffer = std::make_shared<std::vector<char>>(kReadBytes);
  from_.async_read_some(asio::buffer(*buffer), [this, buffer, keep = session_.Keep()](const error_code& ec, size_t n) {
    if (session_.closed()) return;
    if (ec == asio::error::eof) {
      read_eof_ = true;
      return Enqueue({});
    }
    if (ec) return session_.Close();
    buffer->resize(n);
    Enqueue(std::move(*buffer));
    Read();
  });
}

void Direction::WriteNext() {
  if (session_.closed()) return;
  if (queue_.empty()) {
    writing_ = false;
    return;
  }
  writing_ = true;
  timer_.expires_at(queue_.front().due);
  timer_.async_wait([this, keep = session_.Keep()](const error_code& ec) {
    if (ec || session_.closed()) return;
    if (queue_.front().bytes.empty()) {
      error_code ignored;
      to_.shutdown(tcp::socket::shutdown_send, ignored);
      delivered_eof_ = true;
      queue_.pop_front();
      writing_ = false;
      return session_.MaybeFinish();
    }
    asio::async_write(to_, asio::buffer(queue_.front().bytes), [this, keep](const error_code& wec, size_t) {
      if (session_.closed()) return;
      if (wec) return session_.Close();
      queued_bytes_ -= queue_.front().bytes.size();
      queue_.pop_front();
      if (reading_paused_ && queued_bytes_ < kMaxQueuedBytes) {
        reading_paused_ = false;
        Read();
      }
      WriteNext();
    });
  });
}

void Accept(tcp::acceptor& acceptor, const tcp::endpoint& target, Clock::duration delay) {
  acceptor.async_accept([&acceptor, target, delay](const error_code& ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted) return;
    if (!ec) std::make_shared<Session>(std::move(socket), target, delay)->Start();
    Accept(acceptor, target, delay);
  });
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge-delay-proxy: a TCP proxy that delays every chunk, both ways (tests only)"};
  std::string listen = "127.0.0.1:0", target, port_file;
  int delay_ms = 150;
  app.add_option("--listen", listen, "address to listen on")->capture_default_str();
  app.add_option("--target", target, "address to forward to")->required();
  app.add_option("--delay-ms", delay_ms, "one-way delay per chunk")->check(CLI::Range(0, 10000))->capture_default_str();
  app.add_option("--port-file", port_file, "file to write the listening port to");
  CLI11_PARSE(app, argc, argv);
  try {
    asio::io_context io;
    tcp::acceptor acceptor(io, ParseEndpoint(listen));
    const auto port = acceptor.local_endpoint().port();
    if (!port_file.empty()) {
      const std::string tmp = port_file + ".tmp";
      std::ofstream(tmp) << port << "\n";
      std::rename(tmp.c_str(), port_file.c_str());
    }
    std::cout << "listening on " << port << std::endl;
    Accept(acceptor, ParseEndpoint(target), std::chrono::milliseconds(delay_ms));
    asio::signal_set signals(io, SIGTERM, SIGINT);
    signals.async_wait([&io](const error_code&, int) { io.stop(); });
    io.run();
  } catch (const std::exception& e) {
    std::cerr << "edge-delay-proxy: " << e.what() << std::endl;
    return 1;
  }
  return 0;
}
