// A small RAII layer over SQLite: one connection, prepared statements that bind by type,
// BEGIN IMMEDIATE transactions, and a numbered-migration runner. All SQL with input is bound,
// never concatenated.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/result.h"
#include "common/sql/migration.h"

struct sqlite3;
struct sqlite3_stmt;

namespace edge::sqlite {

class Db;

class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // 1-based parameter index, as in SQLite.
  Statement& Bind(int index, int64_t value);
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, const char* text) { return Bind(index, std::string_view(text)); }
  Statement& Bind(int index, const std::string& text) { return Bind(index, std::string_view(text)); }
  Statement& BindBlob(int index, std::string_view bytes);
  Statement& BindNull(int index);

  // Advances: true when a row is available, false when done.
  Result<bool> Step();
  // Runs a statement that returns no rows.
  Status Run();
  // Ready to run again with new bindings (a statement prepared once, run for many rows).
  void Reset();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;
  bool IsNull(int column) const;
  const std::string& sql() const { return sql_; }

 private:
  friend class Db;
  Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql);
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
  int bind_error_ = 0;
};

using Migration = sql::Migration;

class Db {
 public:
  // Opens (creating if needed) with WAL, synchronous=FULL, foreign keys and a busy timeout.
  static Result<Db> Open(const std::filesystem::path& path);
  // Opens an existing database read-only, as it is: no pragma that writes (a backup being
  // verified must stay byte for byte what was written).
  static Result<Db> OpenReadOnly(const std::filesystem::path& path);
  Db(Db&&) noexcept;
  Db& operator=(Db&&) noexcept;
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db();

  Result<Statement> Prepare(std::string_view sql);
  // Runs SQL without parameters (schema, pragmas).
  Status Exec(std::string_view sql);
  int64_t LastInsertId() const;
  int Changes() const;

  // Applies migrations with numbers above the recorded schema version, each in its own
  // transaction, in order. Refuses a database whose version is newer than the newest
  // migration (a downgrade would corrupt it) and a list that is not strictly increasing.
  Status Migrate(std::span<const Migration> migrations);
  Result<int> SchemaVersion();

  sqlite3* native() const { return db_; }

 private:
  explicit Db(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_ = nullptr;
  std::filesystem::path path_;
};

// BEGIN IMMEDIATE on construction (takes the write lock up front, so a write transaction never
// fails half-way on SQLITE_BUSY); ROLLBACK on destruction unless Commit() succeeded.
class Transaction {
 public:
  static Result<Transaction> Begin(Db& db);
  Transaction(Transaction&&) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction();
  Status Commit();

 private:
  explicit Transaction(Db* db) : db_(db) {}
  Db* db_;
  bool done_ = false;
};

}  // namespace edge::sqlite
