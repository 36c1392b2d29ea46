// Stream and control-frame accounting for one HTTP/2 connection, on the bytes a client sends
// (in clear: the front terminates TLS where it runs this). gRPC 1.51 predates the 2023 fix
// for rapid reset (CVE-2023-44487): a client opening and cancelling streams makes it create and
// tear down a call per stream, faster than it frees them. The guard counts what the client
// opens, resets and pings, and says when the connection must be closed; the front then cuts
// it before gRPC sees more. Pure: bytes and time in, a verdict out.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edge::controller::net {

struct H2GuardLimits {
  // New streams (HEADERS on a new id): a burst, then a rate. An agent enrolls with one call.
  int64_t stream_burst = 16;
  int64_t streams_per_second = 4;
  int64_t max_streams = 256;  // over the connection's life
  // RST_STREAM from the client: a cancel is normal now and then, a stream of them is the attack.
  int64_t max_resets = 8;
  // PING, SETTINGS, WINDOW_UPDATE on stream 0, PRIORITY: control frames per second.
  int64_t control_per_second = 32;
  // Every frame: bounds empty-DATA and similar floods.
  int64_t frames_per_second = 512;
  size_t max_header_block_bytes = 64 * 1024;  // HEADERS + CONTINUATION of one stream
  size_t max_frame_bytes = 1 << 20;
};

class H2Guard {
 public:
  using Clock = std::chrono::steady_clock;
  explicit H2Guard(H2GuardLimits limits = {}) : limits_(limits) {}

  // Feeds the next bytes the client sent. Returns "" while the connection may go on, or why it
  // must be closed (the guard then stays closed).
  std::string Feed(std::string_view bytes, Clock::time_point now);

  int64_t streams() const { return streams_; }
  int64_t resets() const { return resets_; }

 private:
  std::string OnFrame(uint8_t type, uint8_t flags, uint32_t stream_id, uint32_t length, Clock::time_point now);
  std::string Count(int64_t& in_window, int64_t per_second, const char* what, Clock::time_point now);

  H2GuardLimits limits_;
  std::string closed_;
  size_t preface_seen_ = 0;
  uint8_t header_[9]{};
  size_t header_len_ = 0;
  uint64_t payload_left_ = 0;
  // Streams: a burst bucket refilled per whole second.
  int64_t stream_tokens_ = -1;
  Clock::time_point stream_refill_{};
  int64_t streams_ = 0;
  int64_t resets_ = 0;
  uint32_t last_stream_id_ = 0;
  size_t header_block_ = 0;  // bytes of the header block being received
  bool in_header_block_ = false;
  // Per-second windows.
  Clock::time_point window_start_{};
  int64_t control_in_window_ = 0;
  int64_t frames_in_window_ = 0;
};

}  // namespace edge::controller::net
