#include "common/sqlite/online_backup.h"

#include <sqlite3.h>

#include <chrono>
#include <memory>
#include <string>

#include "common/core/fs.h"

namespace edge::sqlite {
namespace {

struct Closer {
  void operator()(sqlite3* db) const { sqlite3_close(db); }
};
using Connection = std::unique_ptr<sqlite3, Closer>;

Error Failure(sqlite3* db, int rc, const std::string& what) {
  const bool corrupt = (rc & 0xff) == SQLITE_CORRUPT || (rc & 0xff) == SQLITE_NOTADB;
  return Error{corrupt ? ErrorCode::kDataLoss : ErrorCode::kIo,
               what + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc))};
}

Result<Connection> OpenConnection(const std::filesystem::path& path, int flags, const std::string& role) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags | SQLITE_OPEN_FULLMUTEX, nullptr);
  Connection db(raw);
  if (rc != SQLITE_OK) return Fail(Failure(raw, rc, "opening " + role + " database " + path.string()));
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_extended_result_codes(raw, 1);
  return db;
}

Status Exec(sqlite3* db, const char* sql, const std::string& what) {
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Fail(Failure(db, rc, what));
  return Ok();
}

// Runs the backup steps; the caller holds the snapshot.
Result<OnlineBackupStats> CopyPages(sqlite3* src, sqlite3* dst, const OnlineBackupOptions& options) {
  std::unique_ptr<sqlite3_backup, int (*)(sqlite3_backup*)> backup(sqlite3_backup_init(dst, "main", src, "main"),
                                                                    sqlite3_backup_finish);
  if (!backup) return Fail(Failure(dst, sqlite3_errcode(dst), "starting the backup"));
  OnlineBackupStats stats;
  const int per_step = options.pages_per_step > 0 ? options.pages_per_step : -1;
  for (;;) {
    const int rc = sqlite3_backup_step(backup.get(), per_step);
    ++stats.steps;
    stats.pages = sqlite3_backup_pagecount(backup.get());
    if (options.progress) options.progress({stats.pages - sqlite3_backup_remaining(backup.get()), stats.pages});
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_OK) continue;
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      sqlite3_sleep(50);  // a checkpoint or recovery holds a lock for a moment
      continue;
    }
    return Fail(Failure(dst, rc, "copying pages"));
  }
  const int rc = sqlite3_backup_finish(backup.release());
  if (rc != SQLITE_OK) return Fail(Failure(dst, rc, "finishing the backup"));
  return stats;
}

}  // namespace

Result<OnlineBackupStats> OnlineBackup(const std::filesystem::path& live, const std::filesystem::path& out,
                                       const OnlineBackupOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(live, ec))
    return Fail(ErrorCode::kNotFound, "no database at " + live.string());
  if (std::filesystem::exists(out, ec))
    return Fail(ErrorCode::kAlreadyExists, "backup target " + out.string() + " already exists");
  // Read-write without create: a WAL reader may need to write the -shm index, and a missing
  // database must not be created empty.
  EDGE_ASSIGN_OR_RETURN(auto src, OpenConnection(live, SQLITE_OPEN_READWRITE, "live"));
  EDGE_ASSIGN_OR_RETURN(auto dst, OpenConnection(out, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, "backup"));

  // BEGIN is deferred: the first read takes the snapshot that every step then copies.
  EDGE_TRY(Exec(src.get(), "BEGIN", "opening a read transaction on " + live.string()));
  const auto started = std::chrono::steady_clock::now();
  auto stats = Exec(src.get(), "SELECT count(*) FROM sqlite_master", "reading " + live.string())
                   .and_then([&] { return CopyPages(src.get(), dst.get(), options); });
  const auto held = std::chrono::steady_clock::now() - started;
  (void)Exec(src.get(), "COMMIT", "ending the read transaction");
  src.reset();
  if (!stats) return Fail(stats.error().Wrap("backing up " + live.string()));
  stats->snapshot_seconds = std::chrono::duration<double>(held).count();
  stats->page_size = 0;
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(dst.get(), "PRAGMA page_size", -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    stats->page_size = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  EDGE_TRY(Exec(dst.get(), "PRAGMA journal_mode=DELETE", "setting the backup's journal mode"));
  dst.reset();
  EDGE_TRY(fs::FsyncPath(out));
  return stats;
}

}  // namespace edge::sqlite
