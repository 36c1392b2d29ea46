// `edge-controller backup`: a consistent copy of a running controller's state (its SQLite
// database and the blobs it references) into a new directory.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "common/core/result.h"
#include "common/sqlite/online_backup.h"
#include "controller/backup/manifest.h"

namespace edge::controller::backup {

struct BackupRequest {
  std::filesystem::path data_dir;  // the controller's data_dir
  std::filesystem::path to;        // the backup directory to make
  bool replace = false;            // replace a non-empty `to` (only once the new backup is complete)
  std::string fleet;
  std::string controller_version;
  int64_t now = 0;
};

struct BackupProgress {
  enum class Phase { kDatabase, kBlobs } phase = Phase::kDatabase;
  uint64_t done = 0;  // pages or blobs
  uint64_t total = 0;
  uint64_t bytes_done = 0;  // blobs only
  uint64_t bytes_total = 0;
};

struct BackupResult {
  std::filesystem::path dir;       // the backup, every symlink resolved
  std::filesystem::path data_dir;  // the data dir backed up, every symlink resolved
  Manifest manifest;
  sqlite::OnlineBackupStats database;
  double database_seconds = 0;  // the whole database copy, snapshot to fsync
  double blob_seconds = 0;
};

// Works beside a running controller and never blocks it: the database is copied from one
// read snapshot (sqlite::OnlineBackup), then exactly the blobs that snapshot references are
// copied and each is checked against its digest and size on the way; blobs pushed after the
// snapshot are left out (their versions are not in the copied database either). A blob missing
// because its version was deleted after the snapshot makes it retake the snapshot (at most 3
// times); one the live database still references fails the backup. Everything
// is written to a hidden directory beside `to`, fsynced, the manifest last, then renamed to
// `to`: a backup that crashed or failed is never found at `to` (and its partial directory is
// removed when it fails). Refuses (kAlreadyExists) a `to` that is not empty unless `replace`.
// A data dir or `to` that is a symlink to a directory is resolved once (ResolveDir): the
// backup goes into the directory the symlink names; one that names nothing is refused.
Result<BackupResult> TakeBackup(const BackupRequest& request,
                                const std::function<void(const BackupProgress&)>& progress = {});

}  // namespace edge::controller::backup
