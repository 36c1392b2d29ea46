#include <cerrno>
#include <cstring>
#include <fstream>
#include <vector>

#include "common/bundle/bundle.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"

namespace edge::bundle {

Status CheckBlobFile(const BlobRef& ref, const std::filesystem::path& path) {
  const std::string what =
      "blob " + ref.role + " (" + ref.digest.substr(0, 16) + ") at " + path.string();
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) {
    if (ec && ec != std::errc::no_such_file_or_directory) {
      return Fail(ErrorCode::kIo, what + ": cannot stat: " + ec.message());
    }
    return Fail(ErrorCode::kNotFound, what + ": missing");
  }
  if (!std::filesystem::is_regular_file(st)) {
    return Fail(ErrorCode::kDataLoss, what + ": not a regular file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Fail(ErrorCode::kIo, what + ": cannot open: " + std::strerror(errno));
  }

  // Stream in chunks and stop one byte past the declared size: a huge file is never read whole.
  crypto::Sha256 hash;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  while (in && total <= ref.size) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<uint64_t>(in.gcount());
    if (n == 0) {
      break;
    }
    total += n;
    if (total > ref.size) {
      break;
    }
    hash.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
  }
  if (in.bad()) {
    return Fail(ErrorCode::kIo, what + ": read error");
  }
  if (total < ref.size) {
    return Fail(ErrorCode::kDataLoss, what + ": truncated: " + std::to_string(total) +
                                          " bytes, manifest declares " + std::to_string(ref.size));
  }
  if (total > ref.size) {
    return Fail(ErrorCode::kDataLoss, what + ": longer than the " + std::to_string(ref.size) +
                                          " bytes the manifest declares");
  }
  const auto digest = hash.Final();
  const std::string actual = crypto::HexEncode(digest);
  if (actual != ref.digest) {
    return Fail(ErrorCode::kDataLoss, what + ": sha256 mismatch: file has " + actual +
                                          ", manifest declares " + ref.digest);
  }
  return Ok();
}

}  // namespace edge::bundle
