// One attacking HTTP/2 connection: TCP, TLS with ALPN h2 (no client certificate, no server
// verification: the attacker has no credentials and does not care who answers), the client
// preface, and a non-blocking pump that writes queued frames and answers or counts what the
// server sends. It obeys the server's connection-level flow control (a server may drop a client
// that does not) and nothing else the attacks are meant to break.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/core/result.h"
#include "tests/attack/h2/h2_frames.h"
#include "tests/attack/h2/target.h"

namespace edge::h2attack {

// What one worker did and saw; workers' stats are summed at the end.
struct Stats {
  uint64_t connects = 0;                   // TCP connections made
  uint64_t tls_ok = 0;                     // TLS handshakes completed with ALPN h2
  uint64_t tls_failed = 0;                 // TCP or TLS set-up failed
  uint64_t rejected_before_settings = 0;   // closed by the server before its first SETTINGS
  uint64_t server_closed = 0;              // closed by the server after its SETTINGS
  uint64_t streams_opened = 0;
  uint64_t resets_sent = 0;
  uint64_t data_frames_sent = 0;
  uint64_t continuation_frames_sent = 0;
  uint64_t header_bytes_sent = 0;          // header block bytes (HPACK), all frames
  uint64_t pings_sent = 0;
  uint64_t settings_sent = 0;
  uint64_t bytes_sent = 0;                 // TLS plaintext written
  uint64_t bytes_read = 0;                 // TLS plaintext read
  uint64_t flow_control_waits = 0;         // times a DATA frame waited for connection window
  uint64_t server_settings = 0;
  uint64_t server_settings_acks = 0;
  uint64_t ping_acks = 0;
  uint64_t rst_received = 0;
  uint64_t refused_streams = 0;            // RST_STREAM REFUSED_STREAM
  uint64_t headers_received = 0;
  uint64_t data_received = 0;
  uint64_t goaways = 0;
  uint64_t held_streams = 0;               // many-streams: most streams one connection held at once
  int64_t max_concurrent_streams = -1;     // as advertised; -1: not advertised (unlimited)
  std::string goaway_error;                // of the last GOAWAY
  std::string goaway_debug;
  std::string first_error;                 // first TLS or socket error, e.g. the mTLS alert

  void Merge(const Stats& other);
  void NoteError(const std::string& text) {
    if (first_error.empty()) first_error = text;
  }
};

// Process-wide TLS client context: ALPN "h2", no verification, TLS 1.2 or later.
Result<SSL_CTX*> MakeClientTlsContext();

class H2Connection {
 public:
  // TCP connect, TLS handshake, ALPN check; then queues the preface, SETTINGS (push off) and a
  // connection WINDOW_UPDATE so responses never stall on us. Failures are counted in `stats`.
  static Result<std::unique_ptr<H2Connection>> Open(const Target& target, SSL_CTX* tls, Stats& stats,
                                                    std::chrono::milliseconds timeout);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  // Frames to send are appended here.
  std::string& out() { return out_; }
  size_t pending() const { return out_.size() - out_offset_; }

  // Writes what the socket takes and, when `read` is set, reads and handles everything the
  // server sent. Waits up to `timeout_ms` for the socket when nothing moved. False once the
  // connection is closed.
  bool Pump(int timeout_ms, bool read = true);
  // Pumps until the queue is empty, the connection closes or `timeout_ms` passes.
  void Flush(int timeout_ms);

  bool open() const { return open_; }
  bool goaway() const { return goaway_; }
  bool settings_received() const { return settings_received_; }
  uint32_t peer_max_frame_size() const { return peer_max_frame_size_; }
  int64_t connection_window() const { return connection_window_; }
  void ConsumeWindow(size_t bytes) { connection_window_ -= static_cast<int64_t>(bytes); }
  // Streams the server ended (RST_STREAM, or HEADERS/DATA with END_STREAM).
  uint64_t streams_ended() const { return streams_ended_; }
  // The next client stream id (odd, increasing); 0 once the id space is used up.
  uint32_t NewStreamId();

 private:
  H2Connection(int fd, SSL* ssl, Stats& stats) : fd_(fd), ssl_(ssl), stats_(stats) {}
  bool ReadAvailable(bool& progressed);
  bool WriteAvailable(bool& progressed);
  void Handle(const Frame& frame);
  void Closed(const std::string& why);

  int fd_;
  SSL* ssl_;
  Stats& stats_;
  std::string out_;
  size_t out_offset_ = 0;
  FrameReader reader_;
  bool open_ = true;
  bool goaway_ = false;
  bool settings_received_ = false;
  uint32_t peer_max_frame_size_ = kDefaultMaxFrameSize;
  int64_t connection_window_ = 65535;
  uint64_t unacked_data_ = 0;
  uint64_t streams_ended_ = 0;
  uint32_t next_stream_id_ = 1;
};

}  // namespace edge::h2attack
