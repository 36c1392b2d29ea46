// `edge-controller restore`: puts a backup (take_backup.h) in place as a controller's data dir,
// only after checking all of it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "common/core/result.h"
#include "controller/backup/manifest.h"

namespace edge::controller::backup {

struct VerifyProgress {
  uint64_t blobs_done = 0;
  uint64_t blobs_total = 0;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
};
using VerifyProgressSink = std::function<void(const VerifyProgress&)>;

// Checks the backup at `dir` in place, writing nothing: the manifest parses and this binary
// knows its schema (`newest_schema`); the database has the manifest's size and SHA-256,
// passes SQLite's integrity and foreign-key checks, and every blob it references is listed;
// every listed blob file has its size and SHA-256. Errors are kDataLoss (the backup is
// damaged or incomplete), kFailedPrecondition (too new a schema), kNotFound (no manifest).
Result<Manifest> VerifyBackup(const std::filesystem::path& dir, int newest_schema, const VerifyProgressSink& progress = {});

struct RestoreRequest {
  std::filesystem::path from;
  std::filesystem::path data_dir;
  bool force = false;  // replace a non-empty data_dir (moved aside, never deleted)
  int newest_schema = 0;
  int64_t now = 0;
  std::string fleet;  // the configuration's: a backup of another fleet is refused (kFailedPrecondition)
  // Tests: called with both data dir locks held, just before the swap.
  std::function<void()> at_swap;
};

struct RestoreResult {
  Manifest manifest;
  std::filesystem::path data_dir;  // where it was restored: the data dir with every symlink resolved
  std::optional<std::filesystem::path> previous;  // where the replaced data dir now is
};

// Copies the backup into a hidden directory beside `data_dir`, checking it as VerifyBackup
// does (on the copy: the bytes checked are the bytes put in place), then moves it to
// `data_dir`. Nothing at `data_dir` changes unless every check passed. A non-empty data dir is
// refused (kAlreadyExists) without `force`, and with it renamed to
// `<data_dir>.pre-restore-<UTC time>`; a data dir whose controller is running is always refused
// (kFailedPrecondition), and so is a backup of another fleet. Run as root, the restored files get the replaced data dir's owner.
// The data dir's lock (data_dir_lock.h) is held from before the first check to after the swap,
// and the restored directory is locked before it appears at `data_dir`, so a controller
// starting at any moment of a restore refuses to start. The swap is one renameat2
// RENAME_EXCHANGE (where the filesystem has it): `data_dir` never goes missing. A data dir
// that is a symlink to a directory is resolved once: the restore happens in the directory it
// names, beside which the staging and `.pre-restore-` directories are made.
Result<RestoreResult> Restore(const RestoreRequest& request, const VerifyProgressSink& progress = {});

}  // namespace edge::controller::backup
