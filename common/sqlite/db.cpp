#include "common/sqlite/db.h"

#include <sqlite3.h>

#include <utility>

namespace edge::sqlite {
namespace {

Error SqlError(sqlite3* db, std::string_view what) {
  const int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  ErrorCode ec = ErrorCode::kIo;
  if (code == SQLITE_CONSTRAINT_PRIMARYKEY || code == SQLITE_CONSTRAINT_UNIQUE) {
    ec = ErrorCode::kAlreadyExists;
  } else if (code == SQLITE_CONSTRAINT_FOREIGNKEY) {
    ec = ErrorCode::kNotFound;  // the row refers to something that does not exist
  } else if ((code & 0xff) == SQLITE_CONSTRAINT) {
    ec = ErrorCode::kInvalidArgument;
  }
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) ec = ErrorCode::kDataLoss;
  return Error{ec, std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "sqlite error")};
}

}  // namespace

Statement::Statement(sqlite3* db, sqlite3_stmt* stmt, std::string sql)
    : db_(db), stmt_(stmt), sql_(std::move(sql)) {}
Statement::Statement(Statement&& o) noexcept
    : db_(o.db_), stmt_(std::exchange(o.stmt_, nullptr)), sql_(std::move(o.sql_)), bind_error_(o.bind_error_) {}
Statement& Statement::operator=(Statement&& o) noexcept {
  if (this != &o) {
    if (stmt_) sqlite3_finalize(stmt_);
    db_ = o.db_;
    stmt_ = std::exchange(o.stmt_, nullptr);
    sql_ = std::move(o.sql_);
    bind_error_ = o.bind_error_;
  }
  return *this;
}
Statement::~Statement() {
  if (stmt_) sqlite3_finalize(stmt_);
}

Statement& Statement::Bind(int index, int64_t value) {
  int rc = sqlite3_bind_int64(stmt_, index, value);
  if (rc != SQLITE_OK && !bind_error_) bind_error_ = rc;
  return *this;
}
Statement& Statement::Bind(int index, std::string_view text) {
  int rc = sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  if (rc != SQLITE_OK && !bind_error_) bind_error_ = rc;
  return *this;
}
Statement& Statement::BindBlob(int index, std::string_view bytes) {
  int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
  if (rc != SQLITE_OK && !bind_error_) bind_error_ = rc;
  return *this;
}
Statement& Statement::BindNull(int index) {
  int rc = sqlite3_bind_null(stmt_, index);
  if (rc != SQLITE_OK && !bind_error_) bind_error_ = rc;
  return *this;
}

Result<bool> Statement::Step() {
  if (bind_error_)
    return Fail(ErrorCode::kInternal, "binding parameters of '" + sql_ + "': " + sqlite3_errstr(bind_error_));
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return Fail(SqlError(db_, "executing '" + sql_ + "'"));
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_error_ = 0;
}

Status Statement::Run() {
  auto r = Step();
  if (!r) return Fail(r.error());
  return Ok();
}

int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
std::string Statement::Text(int column) const {
  auto* p = sqlite3_column_text(stmt_, column);
  int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string(reinterpret_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}
std::string Statement::Blob(int column) const {
  auto* p = sqlite3_column_blob(stmt_, column);
  int n = sqlite3_column_bytes(stmt_, column);
  return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
}
bool Statement::IsNull(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }

Result<Db> Db::Open(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqlError(raw, "opening database " + path.string());
    sqlite3_close(raw);
    return Fail(e);
  }
  Db db(raw, path);
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_extended_result_codes(raw, 1);
  // WAL + synchronous=FULL: a committed transaction survives power loss; readers never block
  // the writer.
  if (auto s = db.Exec("PRAGMA journal_mode=WAL"); !s) return Fail(s.error().Wrap("database " + path.string()));
  EDGE_TRY(db.Exec("PRAGMA synchronous=FULL"));
  EDGE_TRY(db.Exec("PRAGMA foreign_keys=ON"));
  // Fails fast on a file that is not a database, instead of at the first query.
  if (auto s = db.Exec("SELECT count(*) FROM sqlite_master"); !s)
    return Fail(s.error().Wrap("database " + path.string()));
  return db;
}

Result<Db> Db::OpenReadOnly(const std::filesystem::path& path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READONLY | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    Error e = SqlError(raw, "opening database " + path.string() + " read-only");
    sqlite3_close(raw);
    return Fail(e);
  }
  Db db(raw, path);
  sqlite3_busy_timeout(raw, 5000);
  sqlite3_extended_result_codes(raw, 1);
  if (auto s = db.Exec("SELECT count(*) FROM sqlite_master"); !s)
    return Fail(s.error().Wrap("database " + path.string()));
  return db;
}

Db::Db(Db&& o) noexcept : db_(std::exchange(o.db_, nullptr)), path_(std::move(o.path_)) {}
Db& Db::operator=(Db&& o) noexcept {
  if (this != &o) {
    if (db_) sqlite3_close(db_);
    db_ = std::exchange(o.db_, nullptr);
    path_ = std::move(o.path_);
  }
  return *this;
}
Db::~Db() {
  if (db_) sqlite3_close(db_);
}

Result<Statement> Db::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr);
  if (rc != SQLITE_OK) return Fail(SqlError(db_, "preparing '" + std::string(sql) + "'"));
  return Statement(db_, stmt, std::string(sql));
}

Status Db::Exec(std::string_view sql) {
  std::string copy(sql);
  char* err = nullptr;
  int rc = sqlite3_exec(db_, copy.c_str(), nullptr, nullptr, &err);
  if (rc != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errstr(rc);
    sqlite3_free(err);
    Error e = SqlError(db_, "executing SQL");
    e.message = "executing SQL: " + msg;
    return Fail(e);
  }
  return Ok();
}

int64_t Db::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }
int Db::Changes() const { return sqlite3_changes(db_); }

Result<int> Db::SchemaVersion() {
  EDGE_ASSIGN_OR_RETURN(auto stmt, Prepare("PRAGMA user_version"));
  EDGE_ASSIGN_OR_RETURN(bool row, stmt.Step());
  return row ? static_cast<int>(stmt.Int(0)) : 0;
}

Status Db::Migrate(std::span<const Migration> migrations) {
  EDGE_TRY(sql::CheckMigrationOrder(migrations));
  EDGE_ASSIGN_OR_RETURN(int current, SchemaVersion());
  EDGE_TRY(sql::CheckNotNewer(current, migrations, path_.string()));
  for (const auto& m : migrations) {
    if (m.number <= current) continue;
    EDGE_ASSIGN_OR_RETURN(auto tx, Transaction::Begin(*this));
    if (auto s = Exec(m.sql); !s)
      return Fail(s.error().Wrap("migration " + std::to_string(m.number) + " (" + std::string(m.name) + ")"));
    EDGE_TRY(Exec("PRAGMA user_version = " + std::to_string(m.number)));
    EDGE_TRY(tx.Commit());
  }
  return Ok();
}

Result<Transaction> Transaction::Begin(Db& db) {
  EDGE_TRY(db.Exec("BEGIN IMMEDIATE"));
  return Transaction(&db);
}
Transaction::Transaction(Transaction&& o) noexcept : db_(o.db_), done_(std::exchange(o.done_, true)) {}
Transaction::~Transaction() {
  if (!done_) (void)db_->Exec("ROLLBACK");
}
Status Transaction::Commit() {
  EDGE_TRY(db_->Exec("COMMIT"));
  done_ = true;
  return Ok();
}

}  // namespace edge::sqlite
