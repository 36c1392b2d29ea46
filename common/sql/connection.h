// The SQL access layer the controller's store is written against: one connection to SQLite
// (sqlite_connection.h) or PostgreSQL (postgres_connection.h), prepared statements that bind by
// type, and write transactions. The store's logic is written once on it; what really differs
// between the two databases stays in the adapters and the migration files:
//   - placeholders: statements are written with SQLite's `?` and `?N`; the PostgreSQL adapter
//     numbers them `$N` (numbered_placeholders.h);
//   - write transactions: SQLite `BEGIN IMMEDIATE` (the one writer holds the lock), PostgreSQL
//     SERIALIZABLE with a bounded retry when another writer conflicts (Write below);
//   - column decoding: PostgreSQL's booleans (`x = ?`, `EXISTS`) read as 1/0, BYTEA as bytes;
//   - the schema version: SQLite's `PRAGMA user_version`, PostgreSQL's `schema_migrations`.
// Statements the store runs are portable SQL (`INSERT ... ON CONFLICT`, `RETURNING id`, `TRUE`).
// All SQL with input is bound, never concatenated.
//
// A connection is used by one thread at a time (the controller's store runs on its strand).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/core/result.h"
#include "common/sql/migration.h"

namespace edge::sql {

// What an adapter implements for one prepared statement. Parameters are 1-based, columns
// 0-based, as in SQLite.
class StatementImpl {
 public:
  virtual ~StatementImpl() = default;
  virtual const std::string& sql() const = 0;
  virtual void Bind(int index, int64_t value) = 0;
  virtual void Bind(int index, std::string_view text) = 0;
  virtual void BindBlob(int index, std::string_view bytes) = 0;
  virtual void BindNull(int index) = 0;
  // The first call runs the statement; each call makes the next row current. True while a row
  // is current, false when there are no more.
  virtual Result<bool> Step() = 0;
  // Ready to run again: bindings cleared, result dropped.
  virtual void Reset() = 0;
  virtual int64_t Int(int column) const = 0;  // a boolean reads as 1 or 0
  virtual std::string Text(int column) const = 0;
  virtual std::string Blob(int column) const = 0;
  virtual bool IsNull(int column) const = 0;
};

class Connection;

// A prepared statement, lent by its connection's cache: destroying it returns it there, reset,
// for the next Prepare of the same SQL. It must not outlive its connection.
class Statement {
 public:
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

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
  // Runs an `INSERT ... RETURNING id` and returns the id.
  Result<int64_t> RunReturningId();
  // Ready to run again with new bindings (a statement prepared once, run for many rows).
  void Reset();

  int64_t Int(int column) const;
  std::string Text(int column) const;
  std::string Blob(int column) const;
  bool IsNull(int column) const;

 private:
  friend class Connection;
  Statement(Connection* owner, std::unique_ptr<StatementImpl> impl) : owner_(owner), impl_(std::move(impl)) {}
  void Release();
  Connection* owner_ = nullptr;
  std::unique_ptr<StatementImpl> impl_;
};

class Connection {
 public:
  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  virtual ~Connection();

  // A statement for `sql`, prepared on first use and kept for the next call (each distinct SQL
  // text is prepared once per connection; a statement still in use gets a sibling).
  Result<Statement> Prepare(std::string_view sql);
  // Runs SQL without parameters (schema, test set-up); may hold several statements.
  virtual Status Exec(std::string_view sql) = 0;
  // Rows inserted, updated or deleted by the statement run last.
  virtual int64_t Changes() const = 0;

  // Applies the migrations numbered above the database's schema version, in order; refuses a
  // database whose version is newer than the newest migration (an older binary would corrupt
  // it) and a list that is not strictly increasing.
  virtual Status Migrate(std::span<const Migration> migrations) = 0;
  virtual Result<int> SchemaVersion() = 0;
  // What this connects to, for messages: "SQLite /var/lib/...", "PostgreSQL user@host:5432/db".
  // Never a password.
  virtual const std::string& Describe() const = 0;

  // Runs `body` (returning a Result or Status) in a write transaction and commits it if the
  // body succeeded; rolls it back otherwise. Called inside another Write (or Read), `body`
  // joins that transaction. On PostgreSQL the transaction is SERIALIZABLE: when another
  // writer conflicts (SQLSTATE 40001 or 40P01, in the body or at commit) the transaction is
  // rolled back and `body` runs again, up to kWriteAttempts times, so `body` must do nothing
  // but database work and computing its result.
  template <typename Body>
  auto Write(Body&& body) -> decltype(body()) {
    return Run(Kind::kWrite, std::forward<Body>(body));
  }
  // Runs `body` with one consistent view of the database across its statements. On
  // PostgreSQL a REPEATABLE READ READ ONLY transaction; on SQLite the body runs as it is: the
  // controller is the database's only writer and its store calls come one at a time.
  template <typename Body>
  auto Read(Body&& body) -> decltype(body()) {
    return Run(Kind::kRead, std::forward<Body>(body));
  }

  static constexpr int kWriteAttempts = 10;

  // Statements prepared on this connection so far (each distinct SQL text once, unless two
  // copies were in use at a time), and transactions run again after a conflict.
  uint64_t statements_prepared() const { return statements_prepared_; }
  uint64_t transactions_retried() const { return transactions_retried_; }

 protected:
  enum class Kind { kRead, kWrite };
  virtual Result<std::unique_ptr<StatementImpl>> PrepareNew(std::string_view sql) = 0;
  // Begin returns false when the kind needs no transaction here (a SQLite read).
  virtual Result<bool> Begin(Kind kind) = 0;
  virtual Status Commit() = 0;
  virtual void Rollback() = 0;
  // Whether the transaction failed on a conflict with another writer that running it again
  // can resolve; clears it. Adapters set it where they see the error.
  virtual bool TakeConflict() { return false; }
  // Finalizes the statements kept prepared. An adapter's destructor calls it before it closes
  // the database: SQLite refuses to close a connection that still has statements (and the file
  // would stay open).
  void DropStatements() { idle_.clear(); }

 private:
  friend class Statement;
  template <typename Body>
  auto Run(Kind kind, Body&& body) -> decltype(body()) {
    using R = decltype(body());
    std::optional<R> result;
    Status s = RunTransaction(kind, [&]() -> Status {
      result.emplace(body());
      if (!*result) return Fail(result->error());
      return Ok();
    });
    if (!s) return Fail(std::move(s).error());
    return std::move(*result);
  }
  Status RunTransaction(Kind kind, const std::function<Status()>& body);
  void Return(std::unique_ptr<StatementImpl> impl);

  bool in_transaction_ = false;
  uint64_t statements_prepared_ = 0;
  uint64_t transactions_retried_ = 0;
  std::unordered_map<std::string, std::vector<std::unique_ptr<StatementImpl>>> idle_;
};

}  // namespace edge::sql
