// The store's embedded migrations (controller/CMakeLists.txt, edge_embed_migrations), one list
// per database. They are numbered alike: schema version N is the same tables on both, so a
// change lands as migration N+1 in both folders. PostgreSQL's list starts at 007, the schema
// SQLite reached through 001-007 (no PostgreSQL store existed before it).
#pragma once

#include <span>

#include "common/sql/migration.h"

namespace edge::controller {

std::span<const sql::Migration> Migrations();  // store/migrations/sqlite

namespace postgres {
std::span<const sql::Migration> Migrations();  // store/migrations/postgres
}  // namespace postgres

}  // namespace edge::controller
