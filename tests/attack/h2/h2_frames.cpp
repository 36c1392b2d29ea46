#include "tests/attack/h2/h2_frames.h"

namespace edge::h2attack {
namespace {

void AppendU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>((v >> 24) & 0xff));
  out.push_back(static_cast<char>((v >> 16) & 0xff));
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}

// HPACK integer with an N-bit prefix (RFC 7541 5.1); `first` holds the bits above the prefix.
void AppendHpackInt(std::string& out, uint8_t first, int prefix_bits, size_t value) {
  const size_t max_prefix = (size_t{1} << prefix_bits) - 1;
  if (value < max_prefix) {
    out.push_back(static_cast<char>(first | value));
    return;
  }
  out.push_back(static_cast<char>(first | max_prefix));
  value -= max_prefix;
  while (value >= 128) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void AppendHpackString(std::string& out, std::string_view s) {
  AppendHpackInt(out, 0x00, 7, s.size());  // H bit clear: no Huffman
  out.append(s);
}

}  // namespace

std::string ErrorCodeName(uint32_t code) {
  static const char* const kNames[] = {"NO_ERROR",        "PROTOCOL_ERROR",     "INTERNAL_ERROR",
                                       "FLOW_CONTROL_ERROR", "SETTINGS_TIMEOUT", "STREAM_CLOSED",
                                       "FRAME_SIZE_ERROR", "REFUSED_STREAM",     "CANCEL",
                                       "COMPRESSION_ERROR", "CONNECT_ERROR",     "ENHANCE_YOUR_CALM",
                                       "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
  if (code < sizeof(kNames) / sizeof(kNames[0])) return kNames[code];
  return "0x" + std::to_string(code);
}

uint32_t ReadU32(std::string_view b, size_t o) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(b[o])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[o + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(b[o + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(b[o + 3]));
}

void AppendFrame(std::string& out, FrameType type, uint8_t frame_flags, uint32_t stream_id,
                 std::string_view payload) {
  const auto len = static_cast<uint32_t>(payload.size());
  out.push_back(static_cast<char>((len >> 16) & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>(type));
  out.push_back(static_cast<char>(frame_flags));
  AppendU32(out, stream_id & 0x7fffffffu);
  out.append(payload);
}

void AppendSettings(std::string& out, const std::vector<std::pair<uint16_t, uint32_t>>& values) {
  std::string payload;
  for (const auto& [id, value] : values) {
    payload.push_back(static_cast<char>(id >> 8));
    payload.push_back(static_cast<char>(id & 0xff));
    AppendU32(payload, value);
  }
  AppendFrame(out, FrameType::kSettings, 0, 0, payload);
}

void AppendSettingsAck(std::string& out) { AppendFrame(out, FrameType::kSettings, flags::kAck, 0, {}); }

void AppendPing(std::string& out, uint64_t opaque, bool ack) {
  std::string payload;
  AppendU32(payload, static_cast<uint32_t>(opaque >> 32));
  AppendU32(payload, static_cast<uint32_t>(opaque));
  AppendFrame(out, FrameType::kPing, ack ? flags::kAck : 0, 0, payload);
}

void AppendRstStream(std::string& out, uint32_t stream_id, uint32_t error_code) {
  std::string payload;
  AppendU32(payload, error_code);
  AppendFrame(out, FrameType::kRstStream, 0, stream_id, payload);
}

void AppendWindowUpdate(std::string& out, uint32_t stream_id, uint32_t increment) {
  std::string payload;
  AppendU32(payload, increment & 0x7fffffffu);
  AppendFrame(out, FrameType::kWindowUpdate, 0, stream_id, payload);
}

void AppendHpackLiteral(std::string& block, std::string_view name, std::string_view value) {
  block.push_back(0x00);  // literal without indexing, new name (4-bit prefix, index 0)
  AppendHpackString(block, name);
  AppendHpackString(block, value);
}

std::string GrpcRequestHeaderBlock(std::string_view authority, std::string_view path,
                                   const std::vector<std::pair<std::string, std::string>>& extra) {
  std::string block;
  AppendHpackLiteral(block, ":method", "POST");
  AppendHpackLiteral(block, ":scheme", "https");
  AppendHpackLiteral(block, ":path", path);
  AppendHpackLiteral(block, ":authority", authority);
  AppendHpackLiteral(block, "content-type", "application/grpc");
  AppendHpackLiteral(block, "te", "trailers");
  for (const auto& [name, value] : extra) AppendHpackLiteral(block, name, value);
  return block;
}

size_t AppendHeaderBlock(std::string& out, uint32_t stream_id, std::string_view block,
                         bool end_stream, uint32_t max_frame_size) {
  const size_t first = std::min<size_t>(block.size(), max_frame_size);
  uint8_t f = end_stream ? flags::kEndStream : 0;
  if (first == block.size()) f |= flags::kEndHeaders;
  AppendFrame(out, FrameType::kHeaders, f, stream_id, block.substr(0, first));
  size_t continuations = 0;
  for (size_t at = first; at < block.size(); at += max_frame_size) {
    const auto piece = block.substr(at, max_frame_size);
    const bool last = at + piece.size() == block.size();
    AppendFrame(out, FrameType::kContinuation, last ? flags::kEndHeaders : 0, stream_id, piece);
    ++continuations;
  }
  return continuations;
}

void FrameReader::Feed(std::string_view bytes) {
  if (consumed_ > 0) {
    buffer_.erase(0, consumed_);
    consumed_ = 0;
  }
  buffer_.append(bytes);
}

std::optional<Frame> FrameReader::Next() {
  const std::string_view rest = std::string_view(buffer_).substr(consumed_);
  if (rest.size() < kFrameHeaderBytes) return std::nullopt;
  const size_t len = (static_cast<size_t>(static_cast<uint8_t>(rest[0])) << 16) |
                     (static_cast<size_t>(static_cast<uint8_t>(rest[1])) << 8) |
                     static_cast<size_t>(static_cast<uint8_t>(rest[2]));
  if (rest.size() < kFrameHeaderBytes + len) return std::nullopt;
  Frame f{static_cast<FrameType>(rest[3]), static_cast<uint8_t>(rest[4]), ReadU32(rest, 5) & 0x7fffffffu,
          rest.substr(kFrameHeaderBytes, len)};
  consumed_ += kFrameHeaderBytes + len;
  return f;
}

}  // namespace edge::h2attack
