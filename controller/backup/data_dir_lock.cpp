#include "controller/backup/data_dir_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "common/core/fs.h"

namespace edge::controller::backup {
namespace {

constexpr int kAttempts = 5;

std::string HolderName(DataDirLock::Holder holder) {
  return holder == DataDirLock::Holder::kRestore ? "edge-controller restore" : "edge-controller";
}

// "edge-controller restore (pid 123)", as the holder wrote it; empty if unknown.
std::string ReadHolder(int fd) {
  char text[128];
  const ssize_t n = ::pread(fd, text, sizeof text - 1, 0);
  if (n <= 0) return {};
  std::string holder(text, static_cast<size_t>(n));
  if (const auto end = holder.find('\n'); end != std::string::npos) holder.resize(end);
  return holder;
}

void WriteHolder(int fd, DataDirLock::Holder holder) {
  const std::string text = HolderName(holder) + " (pid " + std::to_string(::getpid()) + ")\n";
  // Only a hint for messages: a failure here changes nothing about the lock.
  if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, text.data(), text.size(), 0);
}

Error Busy(const std::filesystem::path& data_dir, const std::filesystem::path& path, const std::string& holder) {
  if (holder.starts_with("edge-controller restore"))
    return Error{ErrorCode::kFailedPrecondition, "a restore is replacing the data dir " + data_dir.string() + " (" +
                                                     path.string() + " is held by " + holder +
                                                     "); start the controller once it has finished"};
  return Error{ErrorCode::kFailedPrecondition,
               "another edge-controller is running on the data dir " + data_dir.string() + " (" + path.string() +
                   " is held by " + (holder.empty() ? "another process" : holder) +
                   "); stop it first (systemctl stop edge-controller)"};
}

}  // namespace

Result<DataDirLock> DataDirLock::Acquire(const std::filesystem::path& data_dir, bool create, Holder holder) {
  const auto path = data_dir / kLockFile;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0640);
    if (fd < 0) {
      const int err = errno;
      return Fail(err == ENOENT ? ErrorCode::kNotFound : ErrorCode::kIo,
                  "cannot open " + path.string() + ": " + fs::ErrnoText(err));
    }
    DataDirLock lock(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int err = errno;
      if (err == EWOULDBLOCK) return Fail(Busy(data_dir, path, ReadHolder(fd)));
      return Fail(ErrorCode::kIo, "cannot lock " + path.string() + ": " + fs::ErrnoText(err));
    }
    // Between open and flock a restore may have swapped the data dir and let go: the file
    // locked is then the old dir's, and the path names another. Lock what the path names.
    struct stat locked {}, named {};
    if (::fstat(fd, &locked) == 0 && ::stat(path.c_str(), &named) == 0 && locked.st_dev == named.st_dev &&
        locked.st_ino == named.st_ino) {
      WriteHolder(fd, holder);
      return lock;
    }
  }
  return Fail(ErrorCode::kFailedPrecondition, path.string() + " kept changing while it was being locked (a restore "
                                                              "running?); try again");
}

DataDirLock::DataDirLock(DataDirLock&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace edge::controller::backup
