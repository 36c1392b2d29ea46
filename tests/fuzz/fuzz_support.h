// Shared by the fuzz targets and the seed generator: the fixed keys and trust policy the
// verifiers are fuzzed against, a file in memory for parsers that only take a path, and the
// checks a target uses to report a broken property as a crash (libFuzzer keeps the input).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/bundle/bundle.h"
#include "common/crypto/ed25519.h"

namespace edge::fuzz {

// A fixed clock: the seeds' expiries are chosen around it.
inline constexpr int64_t kNow = 1'700'000'000;

// A property the code promises was broken by this input: abort, so libFuzzer saves it.
[[noreturn]] inline void Die(std::string_view what, std::string_view detail = {}) {
  std::fprintf(stderr, "fuzz property violated: %.*s%s%.*s\n", static_cast<int>(what.size()), what.data(),
               detail.empty() ? "" : ": ", static_cast<int>(detail.size()), detail.data());
  std::abort();
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Deterministic keys, so seeds made by fuzz_make_seeds verify in every fuzzer process.
inline crypto::Ed25519KeyPair FixedKey(uint8_t first) {
  crypto::Ed25519Seed seed{};
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<uint8_t>(first + i);
  auto pair = crypto::Ed25519FromSeed(seed);
  if (!pair) Die("cannot derive a fixed Ed25519 key", pair.error().message);
  return *pair;
}
inline const crypto::Ed25519KeyPair& RootKey() {
  static const auto key = FixedKey(1);
  return key;
}
// May sign "detector" and "kws" only: a manifest for another model exercises the refusal.
inline const crypto::Ed25519KeyPair& ReleaseKey() {
  static const auto key = FixedKey(101);
  return key;
}
// May sign any model ("*").
inline const crypto::Ed25519KeyPair& WildcardKey() {
  static const auto key = FixedKey(201);
  return key;
}

inline bundle::TrustPolicy FixedPolicy() {
  bundle::TrustPolicy p;
  p.fleet = "fuzz";
  p.version = 3;
  p.expires = kNow + 86400;
  p.keys.push_back({crypto::Ed25519KeyId(ReleaseKey().public_key), ReleaseKey().public_key, {"detector", "kws"}});
  p.keys.push_back({crypto::Ed25519KeyId(WildcardKey().public_key), WildcardKey().public_key, {"*"}});
  return p;
}
inline const bundle::TrustPolicy& Policy() {
  static const auto policy = FixedPolicy();
  return policy;
}

inline bundle::Envelope SignedEnvelope(std::string_view payload_type, std::string_view payload,
                                       const crypto::Ed25519KeyPair& key) {
  bundle::Envelope env{std::string(payload_type), std::string(payload), {}};
  if (auto s = bundle::SignEnvelope(env, key.seed); !s) Die("cannot sign", s.error().message);
  return env;
}

// RFC 3629 UTF-8 (no overlong forms, no surrogates, at most U+10FFFF).
inline bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = 0;
    uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      n = 1, cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2, cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3, cp = c & 0x07;
    } else {
      return false;
    }
    for (size_t k = 1; k <= n; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const uint32_t min = n == 1 ? 0x80 : n == 2 ? 0x800 : 0x10000;
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

// A file that lives in memory (memfd), for parsers that take a path: each input is written to
// it and the parser opens /proc/self/fd/N. No disk I/O, so the targets stay fast.
class MemFile {
 public:
  MemFile() : fd_(::memfd_create("edge-fuzz", MFD_CLOEXEC)) {
    if (fd_ < 0) Die("memfd_create failed");
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { ::close(fd_); }
  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  void Set(const uint8_t* data, size_t size) {
    if (::ftruncate(fd_, 0) != 0) Die("ftruncate failed");
    for (size_t done = 0; done < size;) {
      const ssize_t n = ::pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) Die("pwrite to the memfd failed");
      done += static_cast<size_t>(n);
    }
  }
  const std::string& path() const { return path_; }

 private:
  int fd_;
  std::string path_;
};

}  // namespace edge::fuzz
