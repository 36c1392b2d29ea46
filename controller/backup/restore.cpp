#include "controller/backup/restore.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <utility>

#include "common/core/fs.h"
#include "controller/backup/data_dir_lock.h"
#include "controller/backup/database_facts.h"
#include "controller/backup/staging_dir.h"
#include "controller/backup/verified_copy.h"

namespace edge::controller::backup {
namespace {

// As the controller makes them (blob dir 0750; SQLite files under the unit's UMask=0027).
constexpr mode_t kDataDirMode = 0750;
constexpr mode_t kDataFileMode = 0640;

Result<Manifest> ReadManifest(const std::filesystem::path& dir) {
  const auto path = dir / kManifestFile;
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) return Fail(ErrorCode::kNotFound, "no backup directory at " + dir.string());
  if (!std::filesystem::exists(path, ec))
    return Fail(ErrorCode::kNotFound, dir.string() + " is not a complete backup: it has no " + std::string(kManifestFile) +
                                          " (a backup that did not finish has none)");
  EDGE_ASSIGN_OR_RETURN(auto text, fs::ReadFile(path, 128u << 20));
  auto m = ParseManifest(text);
  if (!m) return Fail(m.error().Wrap(path.string()));
  return m;
}

// Checks (and, if `into` is not empty, copies into it) the backup at `from`.
Result<Manifest> CheckBackup(const std::filesystem::path& from, const std::filesystem::path& into, int newest_schema,
                             const VerifyProgressSink& progress) {
  EDGE_ASSIGN_OR_RETURN(auto m, ReadManifest(from));
  EDGE_TRY(CheckRestorable(m, newest_schema));
  const auto db_copy = into.empty() ? std::filesystem::path() : into / kDatabaseFile;
  if (auto s = CopyVerified(from / kDatabaseFile, db_copy, m.db_sha256, m.db_bytes, kDataFileMode); !s)
    return Fail(s.error().Wrap("the backup's database"));
  EDGE_ASSIGN_OR_RETURN(auto facts, ReadDatabaseFacts(into.empty() ? from / kDatabaseFile : db_copy, true));
  EDGE_TRY(CheckDatabaseMatches(m, facts.schema_version, facts.blobs));
  const auto blobs_in = from / kBlobSubdir;
  const auto blobs_out = into.empty() ? std::filesystem::path() : into / kBlobSubdir;
  if (!into.empty()) {
    EDGE_TRY(MakeDir(blobs_out.parent_path(), kDataDirMode));
    EDGE_TRY(MakeDir(blobs_out, kDataDirMode));
  }
  VerifyProgress p{0, m.blobs.size(), 0, m.BlobBytes()};
  for (const auto& blob : m.blobs) {
    if (auto s = CopyVerified(blobs_in / blob.digest, into.empty() ? into : blobs_out / blob.digest, blob.digest,
                              blob.size, kDataFileMode); !s)
      return Fail(s.error().Wrap("the backup's blob " + blob.digest));
    ++p.blobs_done;
    p.bytes_done += blob.size;
    if (progress) progress(p);
  }
  if (!into.empty()) EDGE_TRY(fs::FsyncPath(blobs_out));
  return m;
}

// Root restoring for a service user: the new tree gets the replaced data dir's owner, group
// and mode, so that the controller can open it.
Status TakeOwnership(const std::filesystem::path& root, const struct stat& like) {
  if (::chmod(root.c_str(), like.st_mode & 07777) != 0 || ::lchown(root.c_str(), like.st_uid, like.st_gid) != 0)
    return Fail(ErrorCode::kIo, "cannot set the owner of " + root.string() + ": " + fs::ErrnoText(errno));
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(root, ec); !ec && it != std::filesystem::end(it);
       it.increment(ec)) {
    if (::lchown(it->path().c_str(), like.st_uid, like.st_gid) != 0)
      return Fail(ErrorCode::kIo, "cannot set the owner of " + it->path().string() + ": " + fs::ErrnoText(errno));
  }
  if (ec) return Fail(ErrorCode::kIo, "cannot walk " + root.string() + ": " + ec.message());
  return Ok();
}

// The restore's hold on the data dir: its lock, taken on a data dir made for the purpose if
// there was none (so that there is something to lock). Unless kept, the destructor takes back
// what Take added: a refused restore leaves no data dir and no lock file behind.
class DataDirClaim {
 public:
  static Result<DataDirClaim> Take(const std::filesystem::path& data_dir) {
    DataDirClaim claim(data_dir);
    if (::mkdir(data_dir.c_str(), kDataDirMode) == 0) claim.created_dir_ = true;
    else if (errno != EEXIST) return Fail(ErrorCode::kIo, "cannot create " + data_dir.string() + ": " + fs::ErrnoText(errno));
    struct stat st {};
    claim.created_lock_ = ::lstat((data_dir / kLockFile).c_str(), &st) != 0;
    auto lock = DataDirLock::Acquire(data_dir, /*create=*/true, DataDirLock::Holder::kRestore);
    if (!lock) {
      claim.created_lock_ = false;  // someone else's now
      return Fail(lock.error());
    }
    claim.lock_.emplace(std::move(*lock));
    return claim;
  }
  DataDirClaim(DataDirClaim&& other) noexcept
      : dir_(std::move(other.dir_)), lock_(std::move(other.lock_)), created_dir_(std::exchange(other.created_dir_, false)),
        created_lock_(std::exchange(other.created_lock_, false)) {}
  DataDirClaim& operator=(DataDirClaim&&) = delete;
  ~DataDirClaim() {
    if (created_lock_) (void)::unlink((dir_ / kLockFile).c_str());
    if (created_dir_) (void)::rmdir(dir_.c_str());
  }
  bool created_dir() const { return created_dir_; }
  void Keep() { created_dir_ = created_lock_ = false; }

 private:
  explicit DataDirClaim(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path dir_;
  std::optional<DataDirLock> lock_;
  bool created_dir_ = false;
  bool created_lock_ = false;
};

// For a filesystem without RENAME_EXCHANGE: the old dir goes aside, then the new one comes in.
// Between the two renames data_dir is missing; a controller started in that instant makes a new
// empty one and the restore fails (the old data dir stays at `previous`, the backup untouched).
Result<RestoreResult> SwapByRenames(StagingDir& staging, const std::filesystem::path& data_dir, bool empty,
                                    const std::filesystem::path& previous, DataDirClaim& claim, RestoreResult& result) {
  if (empty) {
    (void)::unlink((data_dir / kLockFile).c_str());  // rename(2) replaces only an empty directory
  } else {
    if (::rename(data_dir.c_str(), previous.c_str()) != 0)
      return Fail(ErrorCode::kIo, "cannot move the data dir " + data_dir.string() + " aside to " + previous.string() +
                                      ": " + fs::ErrnoText(errno));
    result.previous = previous;
  }
  claim.Keep();
  if (auto s = staging.Commit(data_dir); !s) {
    if (result.previous) (void)::rename(result.previous->c_str(), data_dir.c_str());
    return Fail(s.error());
  }
  return result;
}

}  // namespace

Result<Manifest> VerifyBackup(const std::filesystem::path& dir, int newest_schema, const VerifyProgressSink& progress) {
  return CheckBackup(dir, {}, newest_schema, progress);
}

Result<RestoreResult> Restore(const RestoreRequest& request, const VerifyProgressSink& progress) {
  RestoreResult result;
  EDGE_ASSIGN_OR_RETURN(const auto resolved, ResolveDir(request.data_dir, "data_dir"));
  const auto& data_dir = resolved.path;
  result.data_dir = data_dir;
  EDGE_ASSIGN_OR_RETURN(bool empty, IsMissingOrEmptyDir(data_dir, kLockFile));
  if (!empty && !request.force)
    return Fail(ErrorCode::kAlreadyExists, "the data dir " + data_dir.string() +
                                               " is not empty; restore replaces it only with --force (it is then moved "
                                               "aside, not deleted)");
  // From here to the end of the swap: a controller running on the data dir refuses the
  // restore, and one starting meanwhile refuses to start.
  EDGE_ASSIGN_OR_RETURN(auto claim, DataDirClaim::Take(data_dir));
  EDGE_ASSIGN_OR_RETURN(empty, IsMissingOrEmptyDir(data_dir, kLockFile));  // a controller may have run in between
  if (!empty && !request.force)
    return Fail(ErrorCode::kAlreadyExists, "the data dir " + data_dir.string() + " is no longer empty; restore replaces it only with --force");
  struct stat old_dir {};
  const bool had_dir = !claim.created_dir() && ::stat(data_dir.c_str(), &old_dir) == 0;

  EDGE_ASSIGN_OR_RETURN(auto staging, StagingDir::Create(data_dir, "restore", kDataDirMode));
  EDGE_ASSIGN_OR_RETURN(result.manifest, CheckBackup(request.from, staging.path(), request.newest_schema, progress));
  // The database names devices whose certificates the fleet's CA issued: with another fleet's
  // PKI no agent could connect.
  if (!request.fleet.empty() && result.manifest.fleet != request.fleet)
    return Fail(ErrorCode::kFailedPrecondition, "the backup is of fleet '" + result.manifest.fleet +
                                                    "', the configuration is for fleet '" + request.fleet + "'");
  // The restored dir is locked before it appears at data_dir (and its lock file gets the owner
  // below, so that the controller can open it).
  EDGE_ASSIGN_OR_RETURN(auto new_lock, DataDirLock::Acquire(staging.path(), /*create=*/true, DataDirLock::Holder::kRestore));
  if (had_dir && ::geteuid() == 0) EDGE_TRY(TakeOwnership(staging.path(), old_dir));
  if (request.at_swap) request.at_swap();

  const std::filesystem::path previous = data_dir.string() + ".pre-restore-" + UtcTime(request.now, "%Y%m%dT%H%M%SZ");
  EDGE_ASSIGN_OR_RETURN(const bool exchanged, staging.Exchange(data_dir));
  if (!exchanged) return SwapByRenames(staging, data_dir, empty, previous, claim, result);
  claim.Keep();
  // staging.path() now holds what was the data dir: nothing but our lock file if it was empty.
  if (empty) {
    (void)::unlink((staging.path() / kLockFile).c_str());
    if (::rmdir(staging.path().c_str()) != 0)
      return Fail(ErrorCode::kIo, "restored, but the empty data dir it replaced is left at " + staging.path().string() + ": " +
                                      fs::ErrnoText(errno));
    return result;
  }
  if (::rename(staging.path().c_str(), previous.c_str()) != 0)
    return Fail(ErrorCode::kIo, "restored, but the data dir it replaced is at " + staging.path().string() +
                                    " (it could not be renamed to " + previous.string() + ": " + fs::ErrnoText(errno) + ")");
  result.previous = previous;
  EDGE_TRY(fs::FsyncPath(data_dir.parent_path()));
  return result;
}

}  // namespace edge::controller::backup
