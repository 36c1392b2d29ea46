#include "common/crypto/sha256.h"

#include <cstring>
#include <fstream>
#include <vector>

#include "common/crypto/encoding.h"
#include "common/crypto/openssl_handles.h"

namespace edge::crypto {

struct Sha256::Impl {
  detail::MdCtxPtr ctx{EVP_MD_CTX_new()};
};

Sha256::Sha256() : impl_(std::make_unique<Impl>()) {
  // Allocation or init failure of a fixed digest is not a recoverable condition.
  if (!impl_->ctx || EVP_DigestInit_ex(impl_->ctx.get(), EVP_sha256(), nullptr) != 1) {
    std::abort();
  }
}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::Update(std::span<const uint8_t> bytes) {
  if (bytes.empty()) {
    return;
  }
  if (EVP_DigestUpdate(impl_->ctx.get(), bytes.data(), bytes.size()) != 1) {
    std::abort();
  }
}

void Sha256::Update(std::string_view bytes) {
  Update(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()));
}

Sha256Digest Sha256::Final() {
  Sha256Digest out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx.get(), out.data(), &len) != 1 || len != out.size()) {
    std::abort();
  }
  return out;
}

std::string Sha256Hex(std::string_view bytes) {
  Sha256 h;
  h.Update(bytes);
  auto d = h.Final();
  return HexEncode(d);
}

Result<std::string> Sha256FileHex(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kIo,
                "sha256: cannot open " + path.string() + ": " + std::strerror(errno));
  }
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    auto n = in.gcount();
    if (n > 0) {
      h.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    }
  }
  if (in.bad()) {
    return Fail(ErrorCode::kIo, "sha256: read error on " + path.string());
  }
  auto d = h.Final();
  return HexEncode(d);
}

}  // namespace edge::crypto
