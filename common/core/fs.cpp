#include "common/core/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

namespace edge::fs {
namespace {

Error IoError(std::string what, const std::filesystem::path& path, int err) {
  return Error{ErrorCode::kIo, what + " " + path.string() + ": " + ErrnoText(err)};
}

std::string TempSuffix() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return ".tmp." + std::to_string(getpid()) + "." + std::to_string(rng() % 1000000000ULL);
}

}  // namespace

std::string ErrnoText(int err) { return std::strerror(err); }

Result<std::string> ReadFile(const std::filesystem::path& path, uint64_t max_bytes) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(IoError("cannot open", path, errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return Fail(IoError("cannot stat", path, err));
  }
  if (static_cast<uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return Fail(ErrorCode::kResourceExhausted, path.string() + " is " + std::to_string(st.st_size) +
                                                   " bytes, more than the limit of " +
                                                   std::to_string(max_bytes));
  }
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return Fail(IoError("cannot read", path, err));
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
    if (data.size() > max_bytes) {
      ::close(fd);
      return Fail(ErrorCode::kResourceExhausted, path.string() + " grew past the limit of " +
                                                     std::to_string(max_bytes) + " bytes");
    }
  }
  ::close(fd);
  return data;
}

Status FsyncPath(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Fail(IoError("cannot open for fsync", path, errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Fail(IoError("fsync failed on", path, err));
  return Ok();
}

namespace {

// Writes `data` to a temp file beside `path` and moves it into place: over whatever is there
// (replace) or only when nothing is (renameat2 RENAME_NOREPLACE; link + unlink on filesystems
// without it). Never leaves the temp file behind.
Status WriteAndMove(const std::filesystem::path& path, std::string_view data, mode_t mode, bool replace) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  const std::filesystem::path tmp = path.string() + TempSuffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return Fail(IoError("cannot create", tmp, errno));
  if (::fchmod(fd, mode) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Fail(IoError("cannot chmod", tmp, err));
  }
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return Fail(IoError("cannot write", tmp, err));
    }
    off += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int err = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return Fail(IoError("fsync failed on", tmp, err));
  }
  ::close(fd);
  if (replace) {
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return Fail(IoError("cannot rename into place", path, err));
    }
    return FsyncPath(dir);
  }
  int rc = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
  if (rc != 0 && (errno == EINVAL || errno == ENOSYS)) {
    // No RENAME_NOREPLACE on this filesystem: link() refuses an existing name just the same.
    rc = ::link(tmp.c_str(), path.c_str());
  }
  const int err = errno;
  ::unlink(tmp.c_str());  // renamed away (a no-op then), linked (the second name goes) or failed
  if (rc != 0) {
    if (err == EEXIST) return Fail(ErrorCode::kAlreadyExists, path.string() + " already exists; not replaced");
    return Fail(IoError("cannot move into place", path, err));
  }
  return FsyncPath(dir);
}

}  // namespace

Status WriteFileAtomic(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  return WriteAndMove(path, data, mode, /*replace=*/true);
}

Status WriteFileNoReplace(const std::filesystem::path& path, std::string_view data, mode_t mode) {
  return WriteAndMove(path, data, mode, /*replace=*/false);
}

Status ReplaceSymlink(const std::filesystem::path& target, const std::filesystem::path& link) {
  const auto dir = link.has_parent_path() ? link.parent_path() : std::filesystem::path(".");
  const std::filesystem::path tmp = link.string() + TempSuffix();
  if (::symlink(target.c_str(), tmp.c_str()) != 0) return Fail(IoError("cannot create symlink", tmp, errno));
  if (::rename(tmp.c_str(), link.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return Fail(IoError("cannot switch symlink", link, err));
  }
  return FsyncPath(dir);
}

Status CreateDirectories(const std::filesystem::path& path, mode_t mode) {
  std::filesystem::path current;
  for (const auto& part : path) {
    current /= part;
    if (current.empty() || current == "/") continue;
    if (::mkdir(current.c_str(), mode) != 0 && errno != EEXIST)
      return Fail(IoError("cannot create directory", current, errno));
  }
  return Ok();
}

Result<uint64_t> FreeBytes(const std::filesystem::path& path) {
  struct statvfs st {};
  if (::statvfs(path.c_str(), &st) != 0) return Fail(IoError("cannot statvfs", path, errno));
  return static_cast<uint64_t>(st.f_bavail) * static_cast<uint64_t>(st.f_frsize);
}

}  // namespace edge::fs
