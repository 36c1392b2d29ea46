// A controller's claim on its data dir: an exclusive flock on DATA_DIR/controller.lock, held
// for the life of the process (released by the kernel however the process ends). It stops a
// second controller from sharing the database, and a restore from moving the data dir of a
// running controller away under it.
#pragma once

#include <filesystem>

#include "common/core/result.h"

namespace edge::controller::backup {

inline constexpr const char* kLockFile = "controller.lock";

class DataDirLock {
 public:
  // Takes the lock, creating the lock file if `create`. Fails with kFailedPrecondition when
  // another process holds it, kNotFound when there is no lock file and !create.
  static Result<DataDirLock> Acquire(const std::filesystem::path& data_dir, bool create);
  DataDirLock(DataDirLock&& other) noexcept;
  DataDirLock& operator=(DataDirLock&&) = delete;
  DataDirLock(const DataDirLock&) = delete;
  DataDirLock& operator=(const DataDirLock&) = delete;
  ~DataDirLock();

 private:
  explicit DataDirLock(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace edge::controller::backup
