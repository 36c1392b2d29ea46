#include "tests/attack/h2/h2_connection.h"

#include <openssl/err.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace edge::h2attack {
namespace {

constexpr size_t kReadChunk = 64 * 1024;
constexpr int kMaxWriteChunk = 256 * 1024;
// Our receive window for the connection: large, so the server never waits on us.
constexpr uint32_t kOurConnectionWindowBoost = (1u << 30) - 65535;

std::string SslErrorText(SSL* ssl, int rc) {
  const int code = SSL_get_error(ssl, rc);
  if (const unsigned long e = ERR_get_error(); e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
  }
  if (code == SSL_ERROR_ZERO_RETURN) return "TLS close_notify";
  if (code == SSL_ERROR_SYSCALL) return errno != 0 ? std::string(std::strerror(errno)) : "EOF";
  return "TLS error " + std::to_string(code);
}

}  // namespace

void Stats::Merge(const Stats& o) {
  connects += o.connects;
  tls_ok += o.tls_ok;
  tls_failed += o.tls_failed;
  rejected_before_settings += o.rejected_before_settings;
  server_closed += o.server_closed;
  streams_opened += o.streams_opened;
  resets_sent += o.resets_sent;
  data_frames_sent += o.data_frames_sent;
  continuation_frames_sent += o.continuation_frames_sent;
  header_bytes_sent += o.header_bytes_sent;
  pings_sent += o.pings_sent;
  settings_sent += o.settings_sent;
  bytes_sent += o.bytes_sent;
  bytes_read += o.bytes_read;
  flow_control_waits += o.flow_control_waits;
  server_settings += o.server_settings;
  server_settings_acks += o.server_settings_acks;
  ping_acks += o.ping_acks;
  rst_received += o.rst_received;
  refused_streams += o.refused_streams;
  headers_received += o.headers_received;
  data_received += o.data_received;
  goaways += o.goaways;
  held_streams = std::max(held_streams, o.held_streams);
  if (o.max_concurrent_streams >= 0) max_concurrent_streams = o.max_concurrent_streams;
  if (!o.goaway_error.empty()) {
    goaway_error = o.goaway_error;
    goaway_debug = o.goaway_debug;
  }
  NoteError(o.first_error);
}

Result<SSL_CTX*> MakeClientTlsContext() {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Fail(ErrorCode::kInternal, "SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  if (SSL_CTX_set_alpn_protos(ctx, kAlpn, sizeof(kAlpn)) != 0)
    return Fail(ErrorCode::kInternal, "cannot set ALPN h2");
  return ctx;
}

Result<std::unique_ptr<H2Connection>> H2Connection::Open(const Target& target, SSL_CTX* tls, Stats& stats,
                                                          std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fd = ConnectTcp(target, timeout);
  if (!fd) {
    ++stats.tls_failed;
    stats.NoteError(fd.error().message);
    return Fail(fd.error());
  }
  ++stats.connects;
  SSL* ssl = SSL_new(tls);
  SSL_set_fd(ssl, *fd);
  std::unique_ptr<H2Connection> conn(new H2Connection(*fd, ssl, stats));
  auto fail = [&](const std::string& why) {
    ++stats.tls_failed;
    stats.NoteError(why);
    return Fail(ErrorCode::kUnavailable, "TLS to " + target.authority + ": " + why);
  };
  for (;;) {
    const int rc = SSL_connect(ssl);
    if (rc == 1) break;
    const int code = SSL_get_error(ssl, rc);
    const int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    if ((code != SSL_ERROR_WANT_READ && code != SSL_ERROR_WANT_WRITE) || left <= 0)
      return fail(left <= 0 ? "handshake timed out" : SslErrorText(ssl, rc));
    WaitFd(*fd, code == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, left);
  }
  const unsigned char* alpn = nullptr;
  unsigned int alpn_len = 0;
  SSL_get0_alpn_selected(ssl, &alpn, &alpn_len);
  if (alpn_len != 2 || std::memcmp(alpn, "h2", 2) != 0) return fail("server did not select h2 by ALPN");
  ++stats.tls_ok;
  conn->out_.append(kClientPreface);
  AppendSettings(conn->out_, {{settings::kEnablePush, 0}});
  AppendWindowUpdate(conn->out_, 0, kOurConnectionWindowBoost);
  return conn;
}

H2Connection::~H2Connection() {
  SSL_free(ssl_);
  close(fd_);
}

uint32_t H2Connection::NewStreamId() {
  if (next_stream_id_ > 0x7fffffffu - 2) return 0;
  const uint32_t id = next_stream_id_;
  next_stream_id_ += 2;
  return id;
}

void H2Connection::Closed(const std::string& why) {
  if (!open_) return;
  open_ = false;
  if (settings_received_) {
    ++stats_.server_closed;
  } else {
    ++stats_.rejected_before_settings;
  }
  stats_.NoteError(why);
}

bool H2Connection::ReadAvailable(bool& progressed) {
  char buf[kReadChunk];
  for (;;) {
    const int n = SSL_read(ssl_, buf, sizeof(buf));
    if (n > 0) {
      progressed = true;
      stats_.bytes_read += static_cast<uint64_t>(n);
      reader_.Feed(std::string_view(buf, static_cast<size_t>(n)));
      while (auto frame = reader_.Next()) Handle(*frame);
      continue;
    }
    const int code = SSL_get_error(ssl_, n);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) return true;
    Closed(SslErrorText(ssl_, n));
    return false;
  }
}

bool H2Connection::WriteAvailable(bool& progressed) {
  while (pending() > 0) {
    const int len = static_cast<int>(std::min<size_t>(pending(), kMaxWriteChunk));
    const int n = SSL_write(ssl_, out_.data() + out_offset_, len);
    if (n > 0) {
      progressed = true;
      out_offset_ += static_cast<size_t>(n);
      stats_.bytes_sent += static_cast<uint64_t>(n);
      continue;
    }
    const int code = SSL_get_error(ssl_, n);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) break;
    Closed(SslErrorText(ssl_, n));
    return false;
  }
  if (out_offset_ == out_.size()) {
    out_.clear();
    out_offset_ = 0;
  } else if (out_offset_ > (1u << 20)) {
    out_.erase(0, out_offset_);
    out_offset_ = 0;
  }
  return true;
}

bool H2Connection::Pump(int timeout_ms, bool read) {
  if (!open_) return false;
  for (int round = 0; round < 2; ++round) {
    bool progressed = false;
    if (read && !ReadAvailable(progressed)) return false;
    if (!WriteAvailable(progressed)) return false;
    if (progressed || timeout_ms <= 0 || round == 1) break;
    short events = read ? POLLIN : 0;
    if (pending() > 0) events |= POLLOUT;
    if (events == 0) break;
    pollfd p{fd_, events, 0};
    if (poll(&p, 1, timeout_ms) <= 0) break;
    if (!read && (p.revents & (POLLERR | POLLHUP))) {
      Closed("connection reset");
      return false;
    }
  }
  return open_;
}

void H2Connection::Flush(int timeout_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (open_ && pending() > 0 && std::chrono::steady_clock::now() < deadline) Pump(10);
}

void H2Connection::Handle(const Frame& f) {
  switch (f.type) {
    case FrameType::kSettings:
      if (f.flags & flags::kAck) {
        ++stats_.server_settings_acks;
        break;
      }
      ++stats_.server_settings;
      settings_received_ = true;
      for (size_t at = 0; at + 6 <= f.payload.size(); at += 6) {
        const uint16_t id = static_cast<uint16_t>((static_cast<uint8_t>(f.payload[at]) << 8) |
                                                  static_cast<uint8_t>(f.payload[at + 1]));
        const uint32_t value = ReadU32(f.payload, at + 2);
        if (id == settings::kMaxConcurrentStreams) stats_.max_concurrent_streams = value;
        if (id == settings::kMaxFrameSize) peer_max_frame_size_ = value;
      }
      AppendSettingsAck(out_);
      break;
    case FrameType::kPing:
      if (f.flags & flags::kAck) {
        ++stats_.ping_acks;
      } else if (f.payload.size() == 8) {
        const uint64_t opaque = (static_cast<uint64_t>(ReadU32(f.payload, 0)) << 32) | ReadU32(f.payload, 4);
        AppendPing(out_, opaque, true);
      }
      break;
    case FrameType::kGoAway:
      ++stats_.goaways;
      goaway_ = true;
      if (f.payload.size() >= 8) {
        stats_.goaway_error = ErrorCodeName(ReadU32(f.payload, 4));
        stats_.goaway_debug = std::string(f.payload.substr(8, 120));
      }
      break;
    case FrameType::kRstStream:
      ++stats_.rst_received;
      ++streams_ended_;
      if (f.payload.size() == 4 && ReadU32(f.payload, 0) == h2error::kRefusedStream) ++stats_.refused_streams;
      break;
    case FrameType::kHeaders:
      ++stats_.headers_received;
      if (f.flags & flags::kEndStream) ++streams_ended_;
      break;
    case FrameType::kData:
      ++stats_.data_received;
      if (f.flags & flags::kEndStream) ++streams_ended_;
      unacked_data_ += f.payload.size();
      if (unacked_data_ >= 1u << 20) {  // keep our (huge) connection window from running out
        AppendWindowUpdate(out_, 0, static_cast<uint32_t>(unacked_data_));
        unacked_data_ = 0;
      }
      break;
    case FrameType::kWindowUpdate:
      if (f.stream_id == 0 && f.payload.size() == 4) connection_window_ += ReadU32(f.payload, 0) & 0x7fffffffu;
      break;
    default:
      break;
  }
}

}  // namespace edge::h2attack
