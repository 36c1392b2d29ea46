#include "common/core/fs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <random>

#include "common/core/posix_file.h"

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

namespace {

std::string FileKind(mode_t mode) {
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISLNK(mode)) return "a symlink";
  return "not a regular file";
}

Error NotRegular(const std::filesystem::path& path, mode_t mode) {
  return Error{ErrorCode::kInvalidArgument, path.string() + " is " + FileKind(mode) + ", not a regular file"};
}

}  // namespace

Result<UniqueFd> OpenRegularFile(const std::filesystem::path& path, int extra_flags, struct stat* st_out) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | extra_flags));
  if (!fd.valid()) {
    const int err = errno;
    // A socket cannot be open(2)ed at all (ENXIO): say what it is rather than "No such device".
    struct stat st {};
    if (err == ENXIO && ::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) return Fail(NotRegular(path, st.st_mode));
    if (err == ELOOP && (extra_flags & O_NOFOLLOW) != 0)
      return Fail(ErrorCode::kInvalidArgument, path.string() + " is a symlink, not a regular file");
    return Fail(PosixError(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo, "cannot open", path, err));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Fail(PosixError(ErrorCode::kIo, "cannot stat", path, errno));
  if (!S_ISREG(st.st_mode)) return Fail(NotRegular(path, st.st_mode));
  const int flags = ::fcntl(fd.get(), F_GETFL);
  if (flags < 0 || ::fcntl(fd.get(), F_SETFL, flags & ~O_NONBLOCK) != 0)
    return Fail(PosixError(ErrorCode::kIo, "cannot set flags of", path, errno));
  if (st_out != nullptr) *st_out = st;
  return fd;
}

Result<std::string> ReadAll(const UniqueFd& fd, const std::filesystem::path& path, uint64_t max_bytes) {
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Fail(PosixError(ErrorCode::kIo, "cannot stat", path, errno));
  if (static_cast<uint64_t>(st.st_size) > max_bytes)
    return Fail(ErrorCode::kResourceExhausted, path.string() + " is " + std::to_string(st.st_size) +
                                                   " bytes, more than the limit of " + std::to_string(max_bytes));
  std::string data;
  char buf[65536];
  for (;;) {
    EDGE_ASSIGN_OR_RETURN(const size_t n, ReadSome(fd, buf, sizeof buf, path));
    if (n == 0) break;
    data.append(buf, n);
    if (data.size() > max_bytes)
      return Fail(ErrorCode::kResourceExhausted,
                  path.string() + " grew past the limit of " + std::to_string(max_bytes) + " bytes");
  }
  return data;
}

Result<std::string> ReadFile(const std::filesystem::path& path, uint64_t max_bytes) {
  EDGE_ASSIGN_OR_RETURN(auto fd, OpenRegularFile(path));
  return ReadAll(fd, path, max_bytes);
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
