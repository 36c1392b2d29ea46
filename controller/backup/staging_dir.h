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
  // Swaps the directory and the existing directory `target` in one step (renameat2
  // RENAME_EXCHANGE): `target` is never missing, not even for an instant. Afterwards path()
  // names what was at `target`, and the destructor leaves it alone. False, changing nothing,
  // on a filesystem without RENAME_EXCHANGE.
  Result<bool> Exchange(const std::filesystem::path& target);

 private:
  explicit StagingDir(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
  bool committed_ = false;
};

// True if `dir` does not exist or is an empty directory (an entry named `ignore` does not
// count); an error if it is not a directory.
Result<bool> IsMissingOrEmptyDir(const std::filesystem::path& dir, std::string_view ignore = {});

// `dir` with every symlink in it resolved, so that what is renamed beside it is renamed beside
// the real directory (/var/lib/edgefleet -> /srv/edgefleet: the staging directory is made in
// /srv). A missing `dir` is only made absolute; a symlink to nothing is refused
// (kFailedPrecondition, naming `what`) rather than followed into a new directory.
struct ResolvedDir {
  std::filesystem::path path;
  bool through_symlink = false;  // `dir` was not already its real path
};
Result<ResolvedDir> ResolveDir(const std::filesystem::path& dir, std::string_view what);

// Whether `inner` is `outer` or lies inside it, by device and inode (a bind mount or a second
// path to the same directory counts), for existing paths; a missing `inner` is judged by its
// nearest existing parent.
bool IsSameOrInside(const std::filesystem::path& inner, const std::filesystem::path& outer);
// Creates `dir` with `mode`, fsyncs its parent.
Status MakeDir(const std::filesystem::path& dir, mode_t mode);

}  // namespace edge::controller::backup
