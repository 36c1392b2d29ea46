// One numbered schema migration, embedded at build time (cmake/EmbedMigrations.cmake). A
// migration that has landed is never edited: a change is a new, higher number. The checks
// below are the ones every migration runner (SQLite's, PostgreSQL's) makes before it applies
// anything.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "common/core/result.h"

namespace edge::sql {

struct Migration {
  int number;
  std::string_view name;  // the file's name without .sql, e.g. "007_deletable_versions"
  std::string_view sql;
};

// The newest schema `migrations` reach (0 for none).
inline int NewestSchema(std::span<const Migration> migrations) {
  return migrations.empty() ? 0 : migrations.back().number;
}

inline Status CheckMigrationOrder(std::span<const Migration> migrations) {
  int last = 0;
  for (const auto& m : migrations) {
    if (m.number <= last)
      return Fail(ErrorCode::kInternal, "migrations are not strictly increasing at " + std::to_string(m.number));
    last = m.number;
  }
  return Ok();
}

// Refuses a database (`what`) whose schema is newer than the newest migration: an older binary
// would corrupt it.
inline Status CheckNotNewer(int current, std::span<const Migration> migrations, std::string_view what) {
  const int newest = NewestSchema(migrations);
  if (current > newest)
    return Fail(ErrorCode::kFailedPrecondition,
                "database " + std::string(what) + " has schema version " + std::to_string(current) +
                    ", newer than this program knows (" + std::to_string(newest) +
                    "); refusing to run an older binary against it");
  return Ok();
}

}  // namespace edge::sql
