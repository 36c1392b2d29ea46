#include "controller/backup/take_backup.h"

#include <algorithm>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include "common/core/fs.h"
#include "common/crypto/sha256.h"
#include "controller/backup/database_facts.h"
#include "controller/backup/staging_dir.h"
#include "controller/backup/verified_copy.h"

namespace edge::controller::backup {
namespace {

using Clock = std::chrono::steady_clock;
double Since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// A backup holds every secret the database holds (token and serial records, the audit):
// owner only.
constexpr mode_t kBackupDirMode = 0700;
constexpr mode_t kBackupFileMode = 0600;

Status CopyBlobs(const std::filesystem::path& live_blobs, const std::filesystem::path& out, const Manifest& manifest,
                 const std::function<void(const BackupProgress&)>& progress) {
  EDGE_TRY(MakeDir(out.parent_path(), kBackupDirMode));
  EDGE_TRY(MakeDir(out, kBackupDirMode));
  BackupProgress p{BackupProgress::Phase::kBlobs, 0, manifest.blobs.size(), 0, manifest.BlobBytes()};
  for (const auto& blob : manifest.blobs) {
    if (auto s = CopyVerified(live_blobs / blob.digest, out / blob.digest, blob.digest, blob.size, kBackupFileMode); !s)
      return Fail(s.error().Wrap("blob " + blob.digest + ", which the database references, is not usable in the "
                                 "live blob store (the controller cannot serve it either)"));
    ++p.done;
    p.bytes_done += blob.size;
    if (progress) progress(p);
  }
  return fs::FsyncPath(out);
}

// A snapshot whose blob copy failed can be retaken when the failure is a version deleted after
// the snapshot (`edgectl delete model` removes the blobs only it had, once its rows are gone):
// a new snapshot no longer references them. A blob the live database still references and that
// is missing or damaged is a real failure.
constexpr int kSnapshotAttempts = 3;

Result<bool> DeletedSinceSnapshot(const std::filesystem::path& live_db, const std::filesystem::path& live_blobs,
                                  const Manifest& snapshot) {
  EDGE_ASSIGN_OR_RETURN(auto live, ReadDatabaseFacts(live_db, /*check_integrity=*/false));
  for (const auto& blob : snapshot.blobs) {
    std::error_code ec;
    if (std::filesystem::exists(live_blobs / blob.digest, ec)) continue;
    const bool referenced = std::any_of(live.blobs.begin(), live.blobs.end(),
                                        [&](const BlobEntry& b) { return b.digest == blob.digest; });
    if (!referenced) return true;
  }
  return false;
}

// Moves the finished backup to `to`. A non-empty `to` (only with `replace`) is moved aside
// first and deleted last, so that a complete backup is always at one of the two names.
Status Publish(StagingDir& staging, const std::filesystem::path& to, bool to_is_empty) {
  if (to_is_empty) return staging.Commit(to);
  const std::filesystem::path aside = to.string() + ".replaced-" + std::to_string(::getpid());
  if (::rename(to.c_str(), aside.c_str()) != 0)
    return Fail(ErrorCode::kIo, "cannot move the old backup " + to.string() + " aside: " + fs::ErrnoText(errno));
  if (auto s = staging.Commit(to); !s) {
    (void)::rename(aside.c_str(), to.c_str());
    return s;
  }
  std::error_code ec;
  std::filesystem::remove_all(aside, ec);
  if (ec) return Fail(ErrorCode::kIo, "the new backup is in place, but the old one is left at " + aside.string() + ": " + ec.message());
  return Ok();
}

}  // namespace

Result<BackupResult> TakeBackup(const BackupRequest& request,
                                const std::function<void(const BackupProgress&)>& progress) {
  // Both resolved once: a data dir or --to that is a symlink to a directory is that directory
  // (the backup is renamed into place beside the real one; the symlink stays).
  EDGE_ASSIGN_OR_RETURN(const auto data, ResolveDir(request.data_dir, "data_dir"));
  EDGE_ASSIGN_OR_RETURN(const auto resolved_to, ResolveDir(request.to, "backup directory"));
  const auto& to = resolved_to.path;
  if (to.filename().empty() || to == to.root_path())
    return Fail(ErrorCode::kInvalidArgument, "backup directory " + request.to.string() + " has no name");
  // The data dir itself, or a directory holding it, would be deleted by --replace; one inside it
  // would be a backup that restore deletes. By device and inode too: a bind mount or another
  // path to the same directory is the same directory.
  auto within = [](const std::filesystem::path& inner, const std::filesystem::path& outer) {
    return std::mismatch(outer.begin(), outer.end(), inner.begin(), inner.end()).first == outer.end();
  };
  if (within(to, data.path) || within(data.path, to) || IsSameOrInside(to, data.path) || IsSameOrInside(data.path, to))
    return Fail(ErrorCode::kInvalidArgument, "backup directory " + request.to.string() + " is, holds or lies inside the data dir " +
                                                 data.path.string() + "; give a directory elsewhere");
  EDGE_ASSIGN_OR_RETURN(bool to_is_empty, IsMissingOrEmptyDir(to));
  if (!to_is_empty && !request.replace)
    return Fail(ErrorCode::kAlreadyExists,
                to.string() + " exists and is not empty; give a new directory, or --replace to replace the backup in it");
  // --replace replaces a backup, nothing else: a directory without a manifest is not one.
  std::error_code manifest_ec;
  if (!to_is_empty && !std::filesystem::is_regular_file(to / kManifestFile, manifest_ec))
    return Fail(ErrorCode::kAlreadyExists, to.string() + " is not empty and holds no " + std::string(kManifestFile) +
                                               ": --replace only replaces an earlier backup");
  const auto live_db = data.path / kDatabaseFile;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(live_db, ec))
    return Fail(ErrorCode::kNotFound, "no controller database at " + live_db.string() + " (is data_dir right?)");

  EDGE_ASSIGN_OR_RETURN(auto staging, StagingDir::Create(to, "partial", kBackupDirMode));
  BackupResult result;
  const auto db_out = staging.path() / kDatabaseFile;
  sqlite::OnlineBackupOptions options;
  if (progress)
    options.progress = [&](const sqlite::OnlineBackupProgress& p) {
      progress({BackupProgress::Phase::kDatabase, static_cast<uint64_t>(p.pages_done),
                static_cast<uint64_t>(p.pages_total), 0, 0});
    };
  Manifest& m = result.manifest;
  for (int attempt = 1;; ++attempt) {
    const auto db_started = Clock::now();
    EDGE_ASSIGN_OR_RETURN(result.database, sqlite::OnlineBackup(live_db, db_out, options));
    if (::chmod(db_out.c_str(), kBackupFileMode) != 0)
      return Fail(ErrorCode::kIo, "cannot chmod " + db_out.string() + ": " + fs::ErrnoText(errno));
    EDGE_ASSIGN_OR_RETURN(auto facts, ReadDatabaseFacts(db_out, /*check_integrity=*/false));
    m.created_unix = request.now;
    m.controller_version = request.controller_version;
    m.fleet = request.fleet;
    m.schema_version = facts.schema_version;
    m.blobs = std::move(facts.blobs);
    EDGE_ASSIGN_OR_RETURN(m.db_sha256, crypto::Sha256FileHex(db_out));
    m.db_bytes = std::filesystem::file_size(db_out, ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot stat " + db_out.string() + ": " + ec.message());
    result.database_seconds = Since(db_started);

    const auto blobs_started = Clock::now();
    auto copied = CopyBlobs(data.path / kBlobSubdir, staging.path() / kBlobSubdir, m, progress);
    result.blob_seconds = Since(blobs_started);
    if (copied) break;
    EDGE_ASSIGN_OR_RETURN(bool deleted, DeletedSinceSnapshot(live_db, data.path / kBlobSubdir, m));
    if (!deleted) return Fail(copied.error());
    if (attempt == kSnapshotAttempts)
      return Fail(copied.error().Wrap("model versions were deleted during each of " + std::to_string(kSnapshotAttempts) +
                                      " snapshots; run the backup again"));
    std::filesystem::remove_all((staging.path() / kBlobSubdir).parent_path(), ec);
    std::filesystem::remove(db_out, ec);
    if (ec) return Fail(ErrorCode::kIo, "cannot clear " + staging.path().string() + " for a new snapshot: " + ec.message());
  }
  // The manifest is written last: a directory without one is never a backup.
  EDGE_TRY(fs::WriteFileAtomic(staging.path() / kManifestFile, ManifestToJson(m), kBackupFileMode));
  EDGE_TRY(Publish(staging, to, to_is_empty));
  result.dir = to;
  result.data_dir = data.path;
  return result;
}

}  // namespace edge::controller::backup
