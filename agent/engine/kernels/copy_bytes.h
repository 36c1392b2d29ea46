// Copies of a handful of bytes without a library call, for any tier's kernel file. Feature-map
// rows and the edges of output tiles are often a few bytes long, where a memcpy call (and the
// vzeroupper before it in a vector kernel) costs more than the work around it.
#pragma once

#include <cstdint>
#include <cstring>

namespace edge::engine {

// n bytes from src to dst, reading and writing none outside them: fixed-size moves, the last
// one overlapping the one before.
inline void CopyBytes(void* __restrict dst_bytes, const void* __restrict src_bytes, int64_t n) {
  auto* dst = static_cast<int8_t*>(dst_bytes);
  const auto* src = static_cast<const int8_t*>(src_bytes);
  if (n >= 16) {
    for (int64_t i = 0; i + 16 <= n; i += 16) __builtin_memcpy(dst + i, src + i, 16);
    __builtin_memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8) {
    __builtin_memcpy(dst, src, 8);
    __builtin_memcpy(dst + n - 8, src + n - 8, 8);
  } else if (n >= 4) {
    __builtin_memcpy(dst, src, 4);
    __builtin_memcpy(dst + n - 4, src + n - 4, 4);
  } else {
    if (n > 0) dst[0] = src[0];
    if (n > 1) dst[1] = src[1];
    if (n > 2) dst[2] = src[2];
  }
}

// n copies of one byte, writing none outside them: the same fixed-size stores.
inline void FillBytes(void* dst_bytes, int8_t value, int64_t n) {
  auto* dst = static_cast<int8_t*>(dst_bytes);
  const uint64_t v8 = 0x0101010101010101ull * static_cast<uint8_t>(value);
  const uint32_t v4 = static_cast<uint32_t>(v8);
  if (n >= 8) {
    for (int64_t i = 0; i + 8 <= n; i += 8) __builtin_memcpy(dst + i, &v8, 8);
    __builtin_memcpy(dst + n - 8, &v8, 8);
  } else if (n >= 4) {
    __builtin_memcpy(dst, &v4, 4);
    __builtin_memcpy(dst + n - 4, &v4, 4);
  } else {
    for (int64_t i = 0; i < n; ++i) dst[i] = value;
  }
}

// n bytes of any length (a Transpose's or a Concat's runs): CopyBytes up to 256, memcpy past
// that, where the call is nothing next to the copy and the library's wider moves win.
inline void CopyRun(void* __restrict dst, const void* __restrict src, int64_t n) {
  if (n <= 256) {
    CopyBytes(dst, src, n);
  } else {
    std::memcpy(dst, src, static_cast<size_t>(n));
  }
}

}  // namespace edge::engine
