// A PostgreSQL schema of its own for one test, on the server this test run names:
//   EDGE_TEST_POSTGRES=DIR        the throwaway server tests/support/postgres.sh started (the
//                                 ctest fixture edge_postgres sets it)
//   EDGE_TEST_POSTGRES_URL=URL    a server of your own (postgresql://...; the role needs CREATE
//                                 on the database: each test makes a schema and drops it)
// Tests are independent: each gets an empty schema, named at random, reached through a URL
// whose search_path is that schema (and whose application_name is the schema's name, so a test
// can find its own server connections).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "common/core/result.h"
#include "common/sql/connection.h"

namespace edge::testing {

// Whether this run is the PostgreSQL run (one of the variables above is set).
bool PostgresRequested();
// Why the requested server cannot be used here (PostgreSQL not installed, a build without it),
// for a skip; nullopt when it can be (or none was requested).
std::optional<std::string> PostgresUnavailable();

class PostgresTestSchema {
 public:
  // Creates the schema. Fails when no server was requested or it cannot be reached.
  static Result<std::unique_ptr<PostgresTestSchema>> Create();
  ~PostgresTestSchema();  // drops the schema and all in it

  const std::string& name() const { return name_; }
  // The server's URL with search_path (and application_name) set to this schema.
  const std::string& url() const { return url_; }
  // A connection to the database outside the schema (to create, drop, or end connections).
  sql::Connection& admin() { return *admin_; }

 private:
  PostgresTestSchema(std::unique_ptr<sql::Connection> admin, std::string name, std::string url)
      : admin_(std::move(admin)), name_(std::move(name)), url_(std::move(url)) {}
  std::unique_ptr<sql::Connection> admin_;
  std::string name_;
  std::string url_;
};

}  // namespace edge::testing
