#include "controller/backup/staging_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <utility>

#include "common/core/fs.h"

namespace edge::controller::backup {

Result<StagingDir> StagingDir::Create(const std::filesystem::path& target, std::string_view purpose, mode_t mode) {
  const auto parent = target.parent_path();
  EDGE_TRY(fs::CreateDirectories(parent, 0750));
  auto path = parent / ("." + target.filename().string() + "." + std::string(purpose) + "-" + std::to_string(::getpid()));
  // A leftover of an earlier run with the same pid (a crash) is never complete: clear it.
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (::mkdir(path.c_str(), mode) != 0)
    return Fail(ErrorCode::kIo, "cannot create " + path.string() + ": " + fs::ErrnoText(errno));
  return StagingDir(std::move(path));
}

StagingDir::StagingDir(StagingDir&& other) noexcept
    : path_(std::move(other.path_)), committed_(std::exchange(other.committed_, true)) {}

StagingDir::~StagingDir() {
  if (committed_ || path_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

Status StagingDir::Commit(const std::filesystem::path& target) {
  EDGE_TRY(fs::FsyncPath(path_));
  // rename(2) replaces an empty directory atomically and refuses a non-empty one.
  if (::rename(path_.c_str(), target.c_str()) != 0)
    return Fail(ErrorCode::kIo, "cannot move " + path_.string() + " to " + target.string() + ": " + fs::ErrnoText(errno));
  committed_ = true;
  return fs::FsyncPath(target.parent_path());
}

Result<bool> IsMissingOrEmptyDir(const std::filesystem::path& dir) {
  std::error_code ec;
  const auto st = std::filesystem::symlink_status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Fail(ErrorCode::kIo, "cannot stat " + dir.string() + ": " + ec.message());
  if (!std::filesystem::exists(st)) return true;
  if (!std::filesystem::is_directory(st)) return Fail(ErrorCode::kAlreadyExists, dir.string() + " exists and is not a directory");
  const bool empty = std::filesystem::is_empty(dir, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot read " + dir.string() + ": " + ec.message());
  return empty;
}

Status MakeDir(const std::filesystem::path& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) != 0)
    return Fail(ErrorCode::kIo, "cannot create " + dir.string() + ": " + fs::ErrnoText(errno));
  return fs::FsyncPath(dir.parent_path());
}

}  // namespace edge::controller::backup
