#include "controller/backup/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "common/core/fs.h"

namespace edge::controller::backup {

Result<DataDirLock> DataDirLock::Acquire(const std::filesystem::path& data_dir, bool create) {
  const auto path = data_dir / kLockFile;
  const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0640);
  if (fd < 0) {
    const int err = errno;
    return Fail(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                "cannot open " + path.string() + ": " + fs::ErrnoText(err));
  }
  DataDirLock lock(fd);
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK)
      return Fail(ErrorCode::kFailedPrecondition,
                  "another edge-controller is running on the data dir " + data_dir.string() + " (it holds " +
                      path.string() + "); stop it first (systemctl stop edge-controller)");
    return Fail(ErrorCode::kIo, "cannot lock " + path.string() + ": " + fs::ErrnoText(err));
  }
  return lock;
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace edge::controller::backup
