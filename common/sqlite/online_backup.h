// A consistent copy of a live SQLite database, taken while other connections (other
// processes) keep writing to it: SQLite's online backup API (sqlite3_backup_*).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include "common/core/result.h"

namespace edge::sqlite {

struct OnlineBackupProgress {
  int64_t pages_done = 0;
  int64_t pages_total = 0;
};

struct OnlineBackupStats {
  int64_t pages = 0;
  int64_t page_size = 0;
  int steps = 0;
  double snapshot_seconds = 0;  // how long the read transaction on the live database was open
};

struct OnlineBackupOptions {
  int pages_per_step = 1024;
  std::function<void(const OnlineBackupProgress&)> progress;  // after each step; may be empty
};

// Copies the database at `live` (which must exist) into the new file `out` (which must not),
// fsynced, in rollback-journal mode so that the copy is one self-contained file.
//
// The copy is one snapshot: a read transaction on `live` stays open across every step, so a
// write committed by another connection meanwhile neither restarts the copy (what the backup
// API does between steps otherwise) nor shows up in it. In WAL mode readers never block
// writers: the live database's writers go on, only its checkpoints cannot pass the snapshot
// until the copy ends (the WAL file grows meanwhile). No write lock is ever taken on `live`.
Result<OnlineBackupStats> OnlineBackup(const std::filesystem::path& live, const std::filesystem::path& out,
                                       const OnlineBackupOptions& options = {});

}  // namespace edge::sqlite
