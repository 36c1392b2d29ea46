#include "controller/daemon/backup_cmd.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <span>
#include <string>

#include "common/core/clock.h"
#include "common/core/exit_codes.h"
#include "common/core/version.h"
#include "controller/backup/restore.h"
#include "controller/backup/take_backup.h"
#include "controller/store/migrations.h"

namespace edge::controller {
namespace {

std::string Mib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

// Progress on a terminal only, at most ten lines a second, each overwriting the last.
class ProgressLine {
 public:
  ProgressLine() : tty_(::isatty(STDERR_FILENO) == 1) {}
  void Show(const std::string& text, bool last) {
    if (!tty_) return;
    const auto now = std::chrono::steady_clock::now();
    if (!last && now - shown_ < std::chrono::milliseconds(100)) return;
    shown_ = now;
    std::fprintf(stderr, "\r\033[K%s", text.c_str());
    dirty_ = true;
  }
  void Clear() {
    if (dirty_) std::fputs("\r\033[K", stderr);
    dirty_ = false;
  }

 private:
  bool tty_;
  bool dirty_ = false;
  std::chrono::steady_clock::time_point shown_{};
};

std::string BlobProgress(uint64_t done, uint64_t total, uint64_t bytes_done, uint64_t bytes_total) {
  return "blobs " + std::to_string(done) + "/" + std::to_string(total) + ", " + Mib(bytes_done) + " of " + Mib(bytes_total);
}

int Refused(const char* command, const Error& error) {
  std::fprintf(stderr, "edge-controller %s: %s\n", command, error.message.c_str());
  return ExitCodeFor(error);
}

// Says so when the data dir was a symlink and the command worked on the directory it names.
void NoteResolved(const char* command, const std::filesystem::path& configured, const std::filesystem::path& used) {
  if (std::filesystem::absolute(configured).lexically_normal() != used)
    std::fprintf(stderr, "edge-controller %s: data_dir %s resolves to %s (a symlink); working on %s\n", command,
                 configured.c_str(), used.c_str(), used.c_str());
}

// The SQLite store's newest migration: the schema this binary knows.
int NewestSchema() { return sql::NewestSchema(Migrations()); }

// Backup and restore copy the SQLite database file; a PostgreSQL store is backed up by
// PostgreSQL's own tools, which know its consistency and its users.
Status SqliteStoreOnly(const ControllerConfig& config) {
  if (config.store.backend != "sqlite")
    return Fail(ErrorCode::kFailedPrecondition,
                "the store is on PostgreSQL (store.backend in the config), and backup and restore handle only the SQLite "
                "store: back the database up with PostgreSQL's tools (pg_dump, or continuous archiving for point-in-time "
                "recovery) and copy the blobs in " + config.blob_dir.string() +
                    " with file tools (docs/operations.md#postgresql-store)");
  // A backup holds the data dir's blobs: blobs kept elsewhere would be missing from it.
  auto normal = [](const std::filesystem::path& p) {
    auto n = p.lexically_normal();
    return n.has_filename() ? n : n.parent_path();
  };
  if (normal(config.blob_dir) != normal(config.data_dir / "blobs" / "sha256"))
    return Fail(ErrorCode::kFailedPrecondition,
                "blob_dir (" + config.blob_dir.string() + ") is outside the data dir, and backup and restore copy only "
                "the data dir's blobs: remove blob_dir from the config (the default is <data_dir>/blobs/sha256) or back "
                "the database and blob_dir up separately");
  return Ok();
}

}  // namespace

int RunBackup(const ControllerConfig& config, const BackupCommand& command) {
  if (auto s = SqliteStoreOnly(config); !s) return Refused("backup", s.error());
  SystemClock clock;
  backup::BackupRequest request{config.data_dir, command.to, command.replace, config.fleet, kVersion,
                                clock.NowUnix()};
  ProgressLine line;
  auto result = backup::TakeBackup(request, [&](const backup::BackupProgress& p) {
    if (p.phase == backup::BackupProgress::Phase::kDatabase)
      line.Show("backup: database " + std::to_string(p.done) + "/" + std::to_string(p.total) + " pages", false);
    else
      line.Show("backup: " + BlobProgress(p.done, p.total, p.bytes_done, p.bytes_total), p.done == p.total);
  });
  line.Clear();
  if (!result) return Refused("backup", result.error());
  NoteResolved("backup", config.data_dir, result->data_dir);
  const auto& m = result->manifest;
  std::fprintf(stderr,
               "edge-controller backup: wrote %s: database %s (schema %d, snapshot held %.2f s), %zu blobs %s, in "
               "%.2f s. Not included, keep them separately: %s\n",
               result->dir.c_str(), Mib(m.db_bytes).c_str(), m.schema_version, result->database.snapshot_seconds,
               m.blobs.size(), Mib(m.BlobBytes()).c_str(), result->database_seconds + result->blob_seconds,
               std::string(backup::kNotIncluded).c_str());
  return kExitOk;
}

int RunRestore(const ControllerConfig& config, const RestoreCommand& command) {
  if (auto s = SqliteStoreOnly(config); !s) return Refused("restore", s.error());
  ProgressLine line;
  auto progress = [&](const backup::VerifyProgress& p) {
    line.Show("restore: checking " + BlobProgress(p.blobs_done, p.blobs_total, p.bytes_done, p.bytes_total),
              p.blobs_done == p.blobs_total);
  };
  if (command.dry_run) {
    auto m = backup::VerifyBackup(command.from, NewestSchema(), progress);
    line.Clear();
    if (!m) return Refused("restore", m.error());
    std::fprintf(stderr,
                 "edge-controller restore: %s is a complete backup (fleet %s, taken %s by controller %s, schema %d, "
                 "%zu blobs %s); nothing restored (--dry-run)\n",
                 command.from.c_str(), m->fleet.c_str(), backup::UtcTime(m->created_unix, "%Y-%m-%d %H:%M:%SZ").c_str(),
                 m->controller_version.c_str(), m->schema_version, m->blobs.size(), Mib(m->BlobBytes()).c_str());
    return kExitOk;
  }
  SystemClock clock;
  backup::RestoreRequest request{command.from, config.data_dir, command.force, NewestSchema(), clock.NowUnix(),
                                 config.fleet, {}};
  auto result = backup::Restore(request, progress);
  line.Clear();
  if (!result) return Refused("restore", result.error());
  NoteResolved("restore", config.data_dir, result->data_dir);
  const auto& m = result->manifest;
  std::string previous = result->previous ? "; the previous data dir is now " + result->previous->string() : "";
  std::fprintf(stderr,
               "edge-controller restore: restored %s into %s (fleet %s, schema %d, %zu blobs %s)%s. Start the "
               "controller with the same configuration, PKI and addresses (not in the backup: %s)\n",
               command.from.c_str(), result->data_dir.c_str(), m.fleet.c_str(), m.schema_version, m.blobs.size(),
               Mib(m.BlobBytes()).c_str(), previous.c_str(), std::string(backup::kNotIncluded).c_str());
  return kExitOk;
}

}  // namespace edge::controller
