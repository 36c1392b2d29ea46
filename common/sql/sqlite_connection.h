// The SQL layer's SQLite adapter (common/sql/connection.h) over common/sqlite's Db: WAL,
// synchronous=FULL, foreign keys, a busy timeout, and BEGIN IMMEDIATE write transactions (the
// write lock is taken up front, so a write never fails half-way on SQLITE_BUSY and never needs
// to run again).
#pragma once

#include <filesystem>
#include <memory>

#include "common/sql/connection.h"
#include "common/sqlite/db.h"

namespace edge::sql {

class SqliteConnection final : public Connection {
 public:
  // Opens (creating if needed) the database file.
  static Result<std::unique_ptr<SqliteConnection>> Open(const std::filesystem::path& path);
  ~SqliteConnection() override { DropStatements(); }

  Status Exec(std::string_view sql) override { return db_.Exec(sql); }
  int64_t Changes() const override { return db_.Changes(); }
  Status Migrate(std::span<const Migration> migrations) override { return db_.Migrate(migrations); }
  Result<int> SchemaVersion() override { return db_.SchemaVersion(); }
  const std::string& Describe() const override { return description_; }

 protected:
  Result<std::unique_ptr<StatementImpl>> PrepareNew(std::string_view sql) override;
  Result<bool> Begin(Kind kind) override;
  Status Commit() override { return db_.Exec("COMMIT"); }
  void Rollback() override { (void)db_.Exec("ROLLBACK"); }

 private:
  SqliteConnection(sqlite::Db db, std::string description)
      : db_(std::move(db)), description_(std::move(description)) {}
  sqlite::Db db_;
  std::string description_;
};

}  // namespace edge::sql
