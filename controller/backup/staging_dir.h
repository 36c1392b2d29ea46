// A hidden directory beside a target, filled and then renamed into place, removed if it never
// was (shared by backup and restore, so that neither ever leaves a half-written target).
#pragma once

#include <filesystem>
#include <string_view>
#include <sys/types.h>

#include "common/core/result.h"

namespace edge::controller::backup {

class StagingDir {
 public:
  // Makes `.<target name>.<purpose>-<pid>` beside `target` (the parent is created if missing).
  static Result<StagingDir> Create(const std::filesystem::path& target, std::string_view purpose, mode_t mode);
  StagingDir(StagingDir&& other) noexcept;
  StagingDir& operator=(StagingDir&&) = delete;
  StagingDir(const StagingDir&) = delete;
  StagingDir& operator=(const StagingDir&) = delete;
  ~StagingDir();  // removes the directory unless Commit() moved it

  const std::filesystem::path& path() const { return path_; }
  // Renames the directory to `target`, which must not exist or be an empty directory, and
  // fsyncs the parent.
  Status Commit(const std::filesystem::path& target);

 private:
  explicit StagingDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
  bool committed_ = false;
};

// True if `dir` does not exist or is an empty directory; an error if it is not a directory.
Result<bool> IsMissingOrEmptyDir(const std::filesystem::path& dir);
// Creates `dir` with `mode`, fsyncs its parent.
Status MakeDir(const std::filesystem::path& dir, mode_t mode);

}  // namespace edge::controller::backup
