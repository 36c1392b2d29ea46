#include "controller/backup/verified_copy.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/core/fs.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"

namespace edge::controller::backup {
namespace {

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int Close() { return ::close(std::exchange(fd_, -1)); }

 private:
  int fd_;
};

Error IoError(const std::string& what, const std::filesystem::path& path, int err) {
  return Error{err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, what + " " + path.string() + ": " + fs::ErrnoText(err)};
}

Status WriteAll(int fd, const char* data, size_t n, const std::filesystem::path& path) {
  while (n > 0) {
    const ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Fail(IoError("cannot write", path, errno));
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Ok();
}

// `created` tells the caller whether `to` is ours to remove.
Status Copy(const std::filesystem::path& from, const std::filesystem::path& to, std::string_view sha256, uint64_t size,
            mode_t mode, bool* created) {
  Fd in(::open(from.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (in.get() < 0) return Fail(IoError("cannot open", from, errno));
  std::optional<Fd> out;
  if (!to.empty()) {
    out.emplace(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
    if (out->get() < 0) return Fail(IoError("cannot create", to, errno));
    *created = true;
  }
  crypto::Sha256 hash;
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  // Reading stops one buffer past the expected size: a huge file is never read whole.
  while (total <= size) {
    const ssize_t n = ::read(in.get(), buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Fail(IoError("cannot read", from, errno));
    }
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
    hash.Update(std::string_view(buf.data(), static_cast<size_t>(n)));
    if (out) EDGE_TRY(WriteAll(out->get(), buf.data(), static_cast<size_t>(n), to));
  }
  if (total != size)
    return Fail(ErrorCode::kDataLoss, from.string() + " is " + (total > size ? "longer than " : "truncated: ") +
                                          std::to_string(total) + (total > size ? "+" : "") + " bytes, expected " +
                                          std::to_string(size));
  const std::string actual = crypto::HexEncode(hash.Final());
  if (actual != sha256)
    return Fail(ErrorCode::kDataLoss,
                from.string() + " does not match its SHA-256: has " + actual + ", expected " + std::string(sha256));
  if (out) {
    if (::fsync(out->get()) != 0) return Fail(IoError("fsync failed on", to, errno));
    if (out->Close() != 0) return Fail(IoError("cannot close", to, errno));
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
