#include "common/sql/sqlite_connection.h"

namespace edge::sql {
namespace {

class SqliteStatement final : public StatementImpl {
 public:
  explicit SqliteStatement(sqlite::Statement st) : st_(std::move(st)) {}
  const std::string& sql() const override { return st_.sql(); }
  void Bind(int index, int64_t value) override { st_.Bind(index, value); }
  void Bind(int index, std::string_view text) override { st_.Bind(index, text); }
  void BindBlob(int index, std::string_view bytes) override { st_.BindBlob(index, bytes); }
  void BindNull(int index) override { st_.BindNull(index); }
  Result<bool> Step() override { return st_.Step(); }
  void Reset() override { st_.Reset(); }
  int64_t Int(int column) const override { return st_.Int(column); }
  std::string Text(int column) const override { return st_.Text(column); }
  std::string Blob(int column) const override { return st_.Blob(column); }
  bool IsNull(int column) const override { return st_.IsNull(column); }

 private:
  sqlite::Statement st_;
};

}  // namespace

Result<std::unique_ptr<SqliteConnection>> SqliteConnection::Open(const std::filesystem::path& path) {
  EDGE_ASSIGN_OR_RETURN(auto db, sqlite::Db::Open(path));
  return std::unique_ptr<SqliteConnection>(new SqliteConnection(std::move(db), "SQLite " + path.string()));
}

Result<std::unique_ptr<StatementImpl>> SqliteConnection::PrepareNew(std::string_view sql) {
  EDGE_ASSIGN_OR_RETURN(auto st, db_.Prepare(sql));
  return std::unique_ptr<StatementImpl>(new SqliteStatement(std::move(st)));
}

Result<bool> SqliteConnection::Begin(Kind kind) {
  if (kind == Kind::kRead) return false;
  EDGE_TRY(db_.Exec("BEGIN IMMEDIATE"));
  return true;
}

}  // namespace edge::sql
