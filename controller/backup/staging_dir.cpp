#include "controller/backup/staging_dir.h"

#include <fcntl.h>
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

Result<bool> StagingDir::Exchange(const std::filesystem::path& target) {
  EDGE_TRY(fs::FsyncPath(path_));
  if (::renameat2(AT_FDCWD, path_.c_str(), AT_FDCWD, target.c_str(), RENAME_EXCHANGE) != 0) {
    if (errno == EINVAL || errno == ENOSYS) return false;
    return Fail(ErrorCode::kIo, "cannot swap " + path_.string() + " and " + target.string() + ": " + fs::ErrnoText(errno));
  }
  committed_ = true;
  EDGE_TRY(fs::FsyncPath(target.parent_path()));
  return true;
}

Result<bool> IsMissingOrEmptyDir(const std::filesystem::path& dir, std::string_view ignore) {
  std::error_code ec;
  const auto st = std::filesystem::symlink_status(dir, ec);
  if (ec && ec != std::errc::no_such_file_or_directory)
    return Fail(ErrorCode::kIo, "cannot stat " + dir.string() + ": " + ec.message());
  if (!std::filesystem::exists(st)) return true;
  if (!std::filesystem::is_directory(st)) return Fail(ErrorCode::kAlreadyExists, dir.string() + " exists and is not a directory");
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    if (ignore.empty() || it->path().filename() != ignore) return false;
  }
  if (ec) return Fail(ErrorCode::kIo, "cannot read " + dir.string() + ": " + ec.message());
  return true;
}

Result<ResolvedDir> ResolveDir(const std::filesystem::path& dir, std::string_view what) {
  const auto absolute = std::filesystem::absolute(dir).lexically_normal();
  std::error_code ec;
  const auto link = std::filesystem::symlink_status(absolute, ec);
  if (!ec && std::filesystem::is_symlink(link) && !std::filesystem::exists(absolute, ec))
    return Fail(ErrorCode::kFailedPrecondition,
                std::string(what) + " " + dir.string() + " is a symlink to " +
                    std::filesystem::read_symlink(absolute, ec).string() +
                    ", which does not exist: create that directory, or remove the symlink");
  auto real = std::filesystem::weakly_canonical(absolute, ec);
  if (ec) return Fail(ErrorCode::kIo, "cannot resolve " + std::string(what) + " " + dir.string() + ": " + ec.message());
  // weakly_canonical keeps a trailing separator of its input, which would make the name empty.
  if (real.filename().empty() && real.has_parent_path() && real != real.root_path()) real = real.parent_path();
  return ResolvedDir{real, real != absolute};
}

bool IsSameOrInside(const std::filesystem::path& inner, const std::filesystem::path& outer) {
  struct stat o {};
  if (::stat(outer.c_str(), &o) != 0) return false;
  auto p = std::filesystem::absolute(inner).lexically_normal();
  struct stat st {};
  for (;;) {
    if (::stat(p.c_str(), &st) == 0) {
      if (st.st_dev == o.st_dev && st.st_ino == o.st_ino) return true;
    }
    if (p == p.root_path() || !p.has_parent_path()) return false;
    p = p.parent_path();
  }
}

Status MakeDir(const std::filesystem::path& dir, mode_t mode) {
  if (::mkdir(dir.c_str(), mode) != 0)
    return Fail(ErrorCode::kIo, "cannot create " + dir.string() + ": " + fs::ErrnoText(errno));
  return fs::FsyncPath(dir.parent_path());
}

}  // namespace edge::controller::backup
