// Streaming SHA-256 on OpenSSL 3's EVP interface.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/core/result.h"

namespace edge::crypto {

using Sha256Digest = std::array<uint8_t, 32>;

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(Sha256&&) noexcept;
  Sha256& operator=(Sha256&&) noexcept;
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void Update(std::span<const uint8_t> bytes);
  void Update(std::string_view bytes);
  // Finishes the hash; the object must not be updated afterwards.
  Sha256Digest Final();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Lower-case hex of the digest of `bytes`.
std::string Sha256Hex(std::string_view bytes);
// Hashes a file in 1 MiB chunks; error names the path.
Result<std::string> Sha256FileHex(const std::filesystem::path& path);

}  // namespace edge::crypto
