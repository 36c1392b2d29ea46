// The database one test runs on: a SQLite file in a temp dir, or, in the PostgreSQL run of the
// tests (tests/CMakeLists.txt, edge_discover_tests_with_postgres), an empty schema of its own
// on the test server (postgres_test_db.h). Tests written against it run on both.
#pragma once

#include <memory>
#include <string>

#include <catch2/catch.hpp>

#include "common/sql/postgres_connection.h"
#include "common/sql/sqlite_connection.h"
#include "core/skip.h"
#include "core/temp_dir.h"
#include "postgres_test_db.h"

namespace edge::testing {

class TestDatabase {
 public:
  TestDatabase() {
    if (!PostgresRequested()) return;
    auto schema = PostgresTestSchema::Create();
    if (!schema) FAIL("PostgreSQL test schema: " << schema.error().message);
    schema_ = std::move(*schema);
  }

  bool postgres() const { return schema_ != nullptr; }
  // The SQLite file (the SQLite run only).
  const std::string& path() const { return path_; }
  // The schema on the server (the PostgreSQL run only).
  PostgresTestSchema& schema() { return *schema_; }

  // A connection of its own to the database.
  std::unique_ptr<sql::Connection> Connect() {
    Result<std::unique_ptr<sql::Connection>> c = schema_ ? sql::OpenPostgres(schema_->url()) : ConnectSqlite();
    if (!c) FAIL("connecting to the test database: " << c.error().message);
    return std::move(*c);
  }

 private:
  Result<std::unique_ptr<sql::Connection>> ConnectSqlite() {
    EDGE_ASSIGN_OR_RETURN(auto db, sql::SqliteConnection::Open(path_));
    return std::unique_ptr<sql::Connection>(std::move(db));
  }
  TempDir dir_;
  std::string path_ = (dir_ / "test.db").string();
  std::unique_ptr<PostgresTestSchema> schema_;
};

}  // namespace edge::testing

// Ends the test case as skipped when this run's database cannot be used here (PostgreSQL not
// installed, or a build without it).
#define EDGE_SKIP_UNLESS_DATABASE()                                         \
  if (auto edge_unavailable_ = ::edge::testing::PostgresUnavailable()) \
  EDGE_SKIP(*edge_unavailable_)

// Starts a test case that only PostgreSQL has ([postgres]): outside the PostgreSQL run (ctest
// runs it there; by hand, set EDGE_TEST_POSTGRES_URL) it is skipped.
#define EDGE_ONLY_ON_POSTGRES()                                                                           \
  if (!::edge::testing::PostgresRequested())                                                               \
    EDGE_SKIP("PostgreSQL only: ctest runs it against its test server (or set EDGE_TEST_POSTGRES_URL)"); \
  EDGE_SKIP_UNLESS_DATABASE()
