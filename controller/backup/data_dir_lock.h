// A claim on a controller's data dir: an exclusive flock on DATA_DIR/controller.lock. The
// controller holds it for the life of the process (released by the kernel however the process
// ends); `edge-controller restore` holds it (and the lock of the directory it puts in place)
// from its first check to the end of the swap. It stops a second controller from sharing the
// database, a restore from moving the data dir of a running controller away under it, and a
// controller from starting on a data dir a restore is replacing.
#pragma once

#include <filesystem>
#include <string_view>

#include "common/core/result.h"

namespace edge::controller::backup {

inline constexpr const char* kLockFile = "controller.lock";

class DataDirLock {
 public:
  // Who takes the lock: written into the lock file, so that a refused process can say who
  // holds it.
  enum class Holder { kController, kRestore };

  // Takes the lock, creating the lock file if `create`. Fails with kFailedPrecondition when
  // another process holds it (the message says which: "... is held by edge-controller restore
  // (pid 123)"), kNotFound when there is no lock file and !create. The lock is on the file the
  // path names once it is held: a lock file renamed away meanwhile (a restore swapping the data
  // dir) is let go and the new one taken instead.
  static Result<DataDirLock> Acquire(const std::filesystem::path& data_dir, bool create, Holder holder = Holder::kController);
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
