// An owned file descriptor, the read/write loops (EINTR, short reads and writes) and the one way
// every program opens a file it is told to read (config, keys, certificates, bundles, backups).
#pragma once

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <utility>

#include "common/core/fs.h"
#include "common/core/result.h"

namespace edge::fs {

class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int Release() { return std::exchange(fd_, -1); }

 private:
  int fd_ = -1;
};

inline Error PosixError(ErrorCode code, const std::string& what, const std::filesystem::path& path, int err) {
  return Error{code, what + " " + path.string() + ": " + ErrnoText(err)};
}

// Opens `path` read-only (plus `extra_flags`, such as O_NOFOLLOW) without ever blocking, and
// refuses anything that is not a regular file. open(2) of a FIFO waits for a writer, forever
// when none comes; a device node, a socket or a directory named as a key or config file is a
// mistake (or an attack) to report, not to read. So the open is O_NONBLOCK, the type is checked
// on the opened descriptor (no race with a rename), then O_NONBLOCK is cleared. Errors say what
// the path is instead: "PATH is a FIFO (named pipe), not a regular file" (kInvalidArgument);
// kNotFound when it does not exist, kIo otherwise. `st`, if given, receives the fstat.
Result<UniqueFd> OpenRegularFile(const std::filesystem::path& path, int extra_flags = 0, struct stat* st = nullptr);

// Reads what is left of `fd` (opened from `path`), refusing more than `max_bytes`.
Result<std::string> ReadAll(const UniqueFd& fd, const std::filesystem::path& path, uint64_t max_bytes);

// Reads up to `n` bytes; 0 means end of file.
inline Result<size_t> ReadSome(const UniqueFd& fd, char* dst, size_t n, const std::filesystem::path& path) {
  for (;;) {
    const ssize_t got = ::read(fd.get(), dst, n);
    if (got >= 0) return static_cast<size_t>(got);
    if (errno != EINTR) return Fail(PosixError(ErrorCode::kIo, "cannot read", path, errno));
  }
}

inline Status WriteAll(const UniqueFd& fd, const char* data, size_t n, const std::filesystem::path& path) {
  while (n > 0) {
    const ssize_t put = ::write(fd.get(), data, n);
    if (put < 0) {
      if (errno == EINTR) continue;
      return Fail(PosixError(errno == ENOSPC ? ErrorCode::kResourceExhausted : ErrorCode::kIo, "cannot write", path, errno));
    }
    data += put;
    n -= static_cast<size_t>(put);
  }
  return Ok();
}

inline Status Fsync(const UniqueFd& fd, const std::filesystem::path& path) {
  if (::fsync(fd.get()) != 0) return Fail(PosixError(ErrorCode::kIo, "fsync failed on", path, errno));
  return Ok();
}

// Closes `fd` and reports a failure (a written file's last error can surface only here).
inline Status Close(UniqueFd& fd, const std::filesystem::path& path) {
  if (::close(fd.Release()) != 0) return Fail(PosixError(ErrorCode::kIo, "cannot close", path, errno));
  return Ok();
}

}  // namespace edge::fs
