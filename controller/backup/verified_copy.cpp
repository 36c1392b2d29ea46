#include "controller/backup/verified_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>
#include <vector>

#include "common/core/fs.h"
#include "common/core/posix_file.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"

namespace edge::controller::backup {
namespace {

using fs::UniqueFd;

Error OpenError(const std::string& what, const std::filesystem::path& path, int err) {
  return fs::PosixError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, what, path, err);
}

// `created` tells the caller whether `to` is ours to remove.
Status Copy(const std::filesystem::path& from, const std::filesystem::path& to, std::string_view sha256, uint64_t size,
            mode_t mode, bool* created) {
  // A FIFO planted in a backup would block the restore forever; a symlink could point anywhere.
  EDGE_ASSIGN_OR_RETURN(const UniqueFd in, fs::OpenRegularFile(from, O_NOFOLLOW));
  UniqueFd out;
  if (!to.empty()) {
    out = UniqueFd(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (!out.valid()) return Fail(OpenError("cannot create", to, errno));
    *created = true;
  }
  crypto::Sha256 hash;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  // Reading stops one buffer past the expected size: a huge file is never read whole.
  while (total <= size) {
    EDGE_ASSIGN_OR_RETURN(const size_t n, fs::ReadSome(in, buf.data(), buf.size(), from));
    if (n == 0) break;
    total += n;
    hash.Update(std::string_view(buf.data(), n));
    if (out.valid()) EDGE_TRY(fs::WriteAll(out, buf.data(), n, to));
  }
  if (total != size)
    return Fail(ErrorCode::kDataLoss, from.string() + " is " + (total > size ? "longer than " : "truncated: ") +
                                          std::to_string(total) + (total > size ? "+" : "") + " bytes, expected " +
                                          std::to_string(size));
  const std::string actual = crypto::HexEncode(hash.Final());
  if (actual != sha256)
    return Fail(ErrorCode::kDataLoss,
                from.string() + " does not match its SHA-256: has " + actual + ", expected " + std::string(sha256));
  if (out.valid()) {
    EDGE_TRY(fs::Fsync(out, to));
    EDGE_TRY(fs::Close(out, to));
  }
  return Ok();
}

}  // namespace

Status CopyVerified(const std::filesystem::path& from, const std::filesystem::path& to, std::string_view sha256,
                    uint64_t size, mode_t mode) {
  bool created = false;
  auto s = Copy(from, to, sha256, size, mode, &created);
  if (!s && created) {
    std::error_code ec;
    std::filesystem::remove(to, ec);
  }
  return s;
}

}  // namespace edge::controller::backup
