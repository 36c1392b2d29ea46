// Byte encodings used in keys, digests and envelopes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "common/core/result.h"

namespace edge::crypto {

std::string HexEncode(std::span<const uint8_t> bytes);
inline std::string HexEncode(std::string_view bytes) {
  return HexEncode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}
// Lower- or upper-case hex; rejects odd lengths and non-hex characters.
Result<std::string> HexDecode(std::string_view hex);

// Standard base64 with padding (RFC 4648 §4).
std::string Base64Encode(std::string_view bytes);
// Rejects characters outside the alphabet and bad padding; ignores no whitespace.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace edge::crypto
