// What a backup needs to know about a controller database copy: its schema version and the
// blobs it references, read without writing to the file.
#pragma once

#include <filesystem>
#include <vector>

#include "common/core/result.h"
#include "controller/backup/manifest.h"

namespace edge::controller::backup {

struct DatabaseFacts {
  int schema_version = 0;
  std::vector<BlobEntry> blobs;  // sorted by digest
};

// Opens `db` read-only. With `check_integrity`, first runs PRAGMA integrity_check and
// foreign_key_check and fails (kDataLoss, with SQLite's first findings) unless both are clean.
// A digest that is not 64 hex characters is kDataLoss (it would become a file name).
Result<DatabaseFacts> ReadDatabaseFacts(const std::filesystem::path& db, bool check_integrity);

}  // namespace edge::controller::backup
