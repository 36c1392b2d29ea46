#include "controller/net/h2_guard.h"

#include <algorithm>

namespace edge::controller::net {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint8_t kData = 0x0, kHeaders = 0x1, kPriority = 0x2, kRstStream = 0x3, kSettings = 0x4, kPing = 0x6,
                  kWindowUpdate = 0x8, kContinuation = 0x9;
constexpr uint8_t kEndHeaders = 0x4;

}  // namespace

std::string H2Guard::Feed(std::string_view bytes, Clock::time_point now) {
  if (!closed_.empty()) return closed_;
  if (window_start_ == Clock::time_point{}) window_start_ = now;
  while (!bytes.empty()) {
    if (preface_seen_ < kPreface.size()) {
      const size_t n = std::min(bytes.size(), kPreface.size() - preface_seen_);
      if (bytes.substr(0, n) != kPreface.substr(preface_seen_, n)) return closed_ = "not an HTTP/2 client preface";
      preface_seen_ += n;
      bytes.remove_prefix(n);
      continue;
    }
    if (payload_left_ > 0) {
      const auto n = static_cast<size_t>(std::min<uint64_t>(payload_left_, bytes.size()));
      payload_left_ -= n;
      bytes.remove_prefix(n);
      continue;
    }
    const size_t n = std::min(bytes.size(), sizeof header_ - header_len_);
    std::copy_n(bytes.data(), n, header_ + header_len_);
    header_len_ += n;
    bytes.remove_prefix(n);
    if (header_len_ < sizeof header_) break;
    header_len_ = 0;
    const uint32_t length = (uint32_t{header_[0]} << 16) | (uint32_t{header_[1]} << 8) | header_[2];
    const uint32_t stream = ((uint32_t{header_[5]} & 0x7f) << 24) | (uint32_t{header_[6]} << 16) |
                            (uint32_t{header_[7]} << 8) | header_[8];
    if (auto why = OnFrame(header_[3], header_[4], stream, length, now); !why.empty()) return closed_ = why;
    payload_left_ = length;
  }
  return "";
}

std::string H2Guard::Count(int64_t& in_window, int64_t per_second, const char* what, Clock::time_point now) {
  if (now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    control_in_window_ = 0;
    frames_in_window_ = 0;
  }
  if (++in_window > per_second) return std::string("more than ") + std::to_string(per_second) + " " + what + " in a second";
  return "";
}

std::string H2Guard::OnFrame(uint8_t type, uint8_t flags, uint32_t stream_id, uint32_t length, Clock::time_point now) {
  if (length > limits_.max_frame_bytes) return "a frame of " + std::to_string(length) + " bytes";
  if (auto why = Count(frames_in_window_, limits_.frames_per_second, "frames", now); !why.empty()) return why;
  // A header block is HEADERS then CONTINUATION frames until END_HEADERS; nothing else may
  // come between them, and its size is bounded (CONTINUATION floods).
  if (in_header_block_ && type != kContinuation) return "a frame inside a header block";
  if (type == kHeaders || type == kContinuation) {
    header_block_ = (type == kHeaders ? 0 : header_block_) + length;
    if (header_block_ > limits_.max_header_block_bytes) return "a header block over " + std::to_string(limits_.max_header_block_bytes) + " bytes";
    in_header_block_ = (flags & kEndHeaders) == 0;
  }
  switch (type) {
    case kHeaders:
      if (stream_id > last_stream_id_) {  // a new stream (trailers reuse an open one)
        last_stream_id_ = stream_id;
        ++streams_;
        if (streams_ > limits_.max_streams) return "more than " + std::to_string(limits_.max_streams) + " streams";
        if (stream_tokens_ < 0) {
          stream_tokens_ = limits_.stream_burst;
          stream_refill_ = now;
        }
        const auto whole = std::chrono::duration_cast<std::chrono::seconds>(now - stream_refill_).count();
        if (whole > 0) {
          stream_tokens_ = std::min(limits_.stream_burst, stream_tokens_ + whole * limits_.streams_per_second);
          stream_refill_ += std::chrono::seconds(whole);
        }
        if (stream_tokens_ <= 0) return "streams opened faster than " + std::to_string(limits_.streams_per_second) + " a second";
        --stream_tokens_;
      }
      break;
    case kRstStream:
      if (++resets_ > limits_.max_resets) return "more than " + std::to_string(limits_.max_resets) + " stream resets";
      break;
    case kPing:
    case kSettings:
    case kPriority:
      return Count(control_in_window_, limits_.control_per_second, "control frames", now);
    case kWindowUpdate:
      if (stream_id == 0) return Count(control_in_window_, limits_.control_per_second, "control frames", now);
      break;
    case kData:
    default:
      break;
  }
  return "";
}

}  // namespace edge::controller::net
