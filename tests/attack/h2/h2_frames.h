// HTTP/2 frames (RFC 9113) and HPACK literals (RFC 7541), written by hand so that the attack
// tool can send sequences a conforming client never would. Only what the attacks need: every
// header field is a literal without indexing and without Huffman coding, so the encoder keeps no
// state.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace edge::h2attack {

inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr size_t kFrameHeaderBytes = 9;
inline constexpr uint32_t kDefaultMaxFrameSize = 16384;

enum class FrameType : uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoAway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};

namespace flags {
inline constexpr uint8_t kEndStream = 0x1;
inline constexpr uint8_t kAck = 0x1;
inline constexpr uint8_t kEndHeaders = 0x4;
}  // namespace flags

namespace settings {
inline constexpr uint16_t kHeaderTableSize = 0x1;
inline constexpr uint16_t kEnablePush = 0x2;
inline constexpr uint16_t kMaxConcurrentStreams = 0x3;
inline constexpr uint16_t kInitialWindowSize = 0x4;
inline constexpr uint16_t kMaxFrameSize = 0x5;
inline constexpr uint16_t kMaxHeaderListSize = 0x6;
}  // namespace settings

namespace h2error {
inline constexpr uint32_t kRefusedStream = 0x7;
inline constexpr uint32_t kCancel = 0x8;
}  // namespace h2error

// Name of an HTTP/2 error code ("ENHANCE_YOUR_CALM"), or its number for unknown codes.
std::string ErrorCodeName(uint32_t code);

// Appends one frame (header + payload) to `out`.
void AppendFrame(std::string& out, FrameType type, uint8_t frame_flags, uint32_t stream_id,
                 std::string_view payload);

void AppendSettings(std::string& out, const std::vector<std::pair<uint16_t, uint32_t>>& values);
void AppendSettingsAck(std::string& out);
void AppendPing(std::string& out, uint64_t opaque, bool ack);
void AppendRstStream(std::string& out, uint32_t stream_id, uint32_t error_code);
void AppendWindowUpdate(std::string& out, uint32_t stream_id, uint32_t increment);

// HPACK "literal header field without indexing, new name", no Huffman coding (RFC 7541 6.2.2).
void AppendHpackLiteral(std::string& block, std::string_view name, std::string_view value);

// The header block of a gRPC request: POST `path` with content-type application/grpc and
// te: trailers, plus `extra` fields in order.
std::string GrpcRequestHeaderBlock(std::string_view authority, std::string_view path,
                                   const std::vector<std::pair<std::string, std::string>>& extra = {});

// Appends `block` as one HEADERS frame followed by as many CONTINUATION frames as needed to keep
// each payload within `max_frame_size`; END_HEADERS on the last. `end_stream` goes on HEADERS.
// Returns the number of CONTINUATION frames.
size_t AppendHeaderBlock(std::string& out, uint32_t stream_id, std::string_view block,
                         bool end_stream, uint32_t max_frame_size = kDefaultMaxFrameSize);

// A frame read from the peer. The payload view points into the reader's buffer.
struct Frame {
  FrameType type;
  uint8_t flags;
  uint32_t stream_id;
  std::string_view payload;
};

// Splits a byte stream into frames. Feed it what the socket returned; Next() yields each
// complete frame and keeps partial ones for later.
class FrameReader {
 public:
  void Feed(std::string_view bytes);
  // The next complete frame, valid until the next Feed() or Next().
  std::optional<Frame> Next();

 private:
  std::string buffer_;
  size_t consumed_ = 0;
};

uint32_t ReadU32(std::string_view bytes, size_t offset);

}  // namespace edge::h2attack
