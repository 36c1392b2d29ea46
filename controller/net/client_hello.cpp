#include "controller/net/client_hello.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>

namespace edge::controller::net {
namespace {

constexpr uint8_t kRecordHandshake = 22;
constexpr uint8_t kClientHello = 1;
constexpr uint16_t kExtensionAlpn = 16;

// A bounds-checked reader over one handshake message; any overrun makes it fail for good.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool ok() const { return ok_; }
  bool empty() const { return pos_ >= data_.size(); }

  uint32_t Uint(size_t width) {
    if (!Need(width)) return 0;
    uint32_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + i]);
    pos_ += width;
    return v;
  }
  std::string_view Bytes(size_t n) {
    if (!Need(n)) return {};
    auto out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  // A vector with a `width`-byte length prefix.
  std::string_view Vector(size_t width) { return Bytes(Uint(width)); }

 private:
  bool Need(size_t n) {
    if (!ok_ || data_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

bool AlpnOffersHttp1(std::string_view extension) {
  Reader list(extension);
  Reader names(list.Vector(2));
  if (!list.ok() || !list.empty()) return false;
  while (names.ok() && !names.empty()) {
    auto name = names.Vector(1);
    if (names.ok() && name == "http/1.1") return true;
  }
  return false;
}

HelloVerdict ClassifyBody(std::string_view body) {
  Reader r(body);
  r.Uint(2);                    // legacy_version
  r.Bytes(32);                  // random
  r.Vector(1);                  // legacy_session_id
  r.Vector(2);                  // cipher_suites
  r.Vector(1);                  // legacy_compression_methods
  if (!r.ok()) return HelloVerdict::kOther;
  if (r.empty()) return HelloVerdict::kOther;  // no extensions, so no ALPN
  Reader extensions(r.Vector(2));
  if (!r.ok()) return HelloVerdict::kOther;
  while (extensions.ok() && !extensions.empty()) {
    const uint32_t type = extensions.Uint(2);
    auto data = extensions.Vector(2);
    if (!extensions.ok()) return HelloVerdict::kOther;
    if (type == kExtensionAlpn) return AlpnOffersHttp1(data) ? HelloVerdict::kHttp1 : HelloVerdict::kOther;
  }
  return HelloVerdict::kOther;
}

}  // namespace

HelloVerdict ClassifyClientHello(std::string_view bytes) {
  // Gather the handshake bytes of the leading handshake records until the first handshake
  // message is whole; what follows it is not looked at.
  std::string handshake;
  size_t pos = 0;
  size_t body_length = 0;
  size_t records = 0;
  while (true) {
    if (handshake.size() >= 4) {
      if (static_cast<uint8_t>(handshake[0]) != kClientHello) return HelloVerdict::kOther;
      body_length = (size_t{static_cast<uint8_t>(handshake[1])} << 16) |
                    (size_t{static_cast<uint8_t>(handshake[2])} << 8) | static_cast<uint8_t>(handshake[3]);
      if (body_length > kMaxClientHelloBytes) return HelloVerdict::kOther;
      if (handshake.size() - 4 >= body_length) break;
    }
    if (pos < bytes.size() && static_cast<uint8_t>(bytes[pos]) != kRecordHandshake) return HelloVerdict::kOther;
    if (bytes.size() - pos < 5)
      return bytes.size() > kMaxClientHelloWireBytes ? HelloVerdict::kOther : HelloVerdict::kIncomplete;
    if (++records > kMaxClientHelloRecords) return HelloVerdict::kOther;
    const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + pos);
    if (p[1] != 3) return HelloVerdict::kOther;
    const size_t length = (size_t{p[3]} << 8) | p[4];
    if (length == 0 || length > 16384 + 256) return HelloVerdict::kOther;
    const size_t available = std::min(length, bytes.size() - pos - 5);
    handshake.append(bytes.substr(pos + 5, available));
    pos += 5 + available;
    // A cut record leaves pos at the end: the next round decides, or waits for more.
  }
  return ClassifyBody(std::string_view(handshake).substr(4, body_length));
}

}  // namespace edge::controller::net
