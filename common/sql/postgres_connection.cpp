#include "common/sql/postgres_connection.h"

#include <libpq-fe.h>

#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "common/core/log.h"
#include "common/sql/numbered_placeholders.h"

namespace edge::sql {
namespace {

// Type OIDs (pg_type.h) of what the store binds and decodes.
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;

// The advisory lock's first key: "edge" in ASCII. The second is the schema's hash, so that
// stores in different schemas of one database migrate independently.
constexpr int kMigrationLockClass = 0x65646765;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

std::string TrimEnd(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

bool StartsWith(std::string_view s, std::string_view prefix) { return s.substr(0, prefix.size()) == prefix; }

// The password as written in the URL's user-info (postgresql://user:password@host), if any.
std::string_view UrlPassword(std::string_view url) {
  const size_t scheme = url.find("://");
  if (scheme == std::string_view::npos) return {};
  const std::string_view rest = url.substr(scheme + 3);
  const size_t at = rest.find('@');
  const size_t slash = rest.find('/');
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) return {};
  const std::string_view userinfo = rest.substr(0, at);
  const size_t colon = userinfo.find(':');
  return colon == std::string_view::npos ? std::string_view() : userinfo.substr(colon + 1);
}

// `message` with every copy of the URL's password (a query's password= too) replaced.
std::string Redact(std::string message, std::string_view url) {
  std::vector<std::string_view> secrets;
  if (auto p = UrlPassword(url); !p.empty()) secrets.push_back(p);
  if (size_t q = url.find("password="); q != std::string_view::npos) {
    std::string_view v = url.substr(q + 9);
    v = v.substr(0, v.find('&'));
    if (!v.empty()) secrets.push_back(v);
  }
  for (auto secret : secrets)
    for (size_t at = message.find(secret); at != std::string::npos; at = message.find(secret, at))
      message.replace(at, secret.size(), "***");
  return message;
}

Error BadUrl(const std::string& why) {
  return Error{ErrorCode::kBadConfig, why + " (expected postgresql://USER@HOST[:PORT]/DBNAME[?PARAM=VALUE...])"};
}

// "PostgreSQL user@host:port/dbname" from the URL's fields, for messages: no password, no
// parameters.
Result<std::string> Describe(const std::string& url) {
  if (!StartsWith(url, "postgresql://") && !StartsWith(url, "postgres://"))
    return Fail(BadUrl("the PostgreSQL URL must start with postgresql://"));
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (!options) {
    std::string why = error ? TrimEnd(error) : "out of memory";
    PQfreemem(error);
    return Fail(BadUrl("not a valid PostgreSQL URL: " + Redact(why, url)));
  }
  std::map<std::string, std::string> fields;
  for (auto* o = options; o->keyword; ++o)
    if (o->val && *o->val) fields[o->keyword] = o->val;
  PQconninfoFree(options);
  // libpq checks these values only when it connects; a config error should show at start.
  if (fields.count("port")) {
    std::string_view ports = fields["port"];  // one per host: "5432" or "5432,5433"
    for (size_t from = 0; from <= ports.size();) {
      const size_t comma = std::min(ports.find(',', from), ports.size());
      const std::string_view port = ports.substr(from, comma - from);
      const bool digits = !port.empty() && port.size() <= 5 &&
                          port.find_first_not_of("0123456789") == std::string_view::npos;
      if (!digits || std::stoi(std::string(port)) == 0 || std::stoi(std::string(port)) > 65535)
        return Fail(BadUrl("the port '" + std::string(port) + "' is not a number from 1 to 65535"));
      from = comma + 1;
    }
  }
  if (fields.count("sslmode")) {
    static const std::set<std::string> kModes = {"disable", "allow", "prefer", "require", "verify-ca", "verify-full"};
    if (!kModes.count(fields["sslmode"]))
      return Fail(BadUrl("sslmode '" + fields["sslmode"] +
                         "' is not one of disable, allow, prefer, require, verify-ca, verify-full"));
  }
  std::string out = "PostgreSQL ";
  if (fields.count("user")) out += fields["user"] + "@";
  out += fields.count("host") ? fields["host"] : fields.count("hostaddr") ? fields["hostaddr"] : "(default socket)";
  if (fields.count("port")) out += ":" + fields["port"];
  out += "/" + (fields.count("dbname") ? fields["dbname"] : std::string("(default database)"));
  return out;
}

struct Param {
  Oid type = 0;  // 0: NULL, its type inferred by the server
  std::string value;
  bool binary = false;
};

class PostgresConnection;

class PgStatement final : public StatementImpl {
 public:
  PgStatement(PostgresConnection& connection, std::string sql)
      : connection_(connection), sql_(std::move(sql)), numbered_(NumberPlaceholders(sql_)) {}
  const std::string& sql() const override { return sql_; }
  void Bind(int index, int64_t value) override { Set(index, {kInt8Oid, std::to_string(value), false}); }
  // Text goes in binary format (the bytes and their length): the server then refuses a NUL
  // byte or invalid UTF-8 instead of the value being cut at a NUL.
  void Bind(int index, std::string_view text) override { Set(index, {kTextOid, std::string(text), true}); }
  void BindBlob(int index, std::string_view bytes) override { Set(index, {kByteaOid, std::string(bytes), true}); }
  void BindNull(int index) override { Set(index, {}); }
  Result<bool> Step() override;
  void Reset() override {
    params_.assign(static_cast<size_t>(numbered_.parameters), Param{});
    result_.reset();
    ran_ = false;
    row_ = -1;
    bad_index_ = 0;
  }
  int64_t Int(int column) const override {
    if (!Valid(column) || PQgetisnull(result_.get(), row_, column)) return 0;
    const char* v = PQgetvalue(result_.get(), row_, column);
    if (PQftype(result_.get(), column) == kBoolOid) return v[0] == 't' ? 1 : 0;
    return std::strtoll(v, nullptr, 10);
  }
  std::string Text(int column) const override {
    if (!Valid(column)) return {};
    return std::string(PQgetvalue(result_.get(), row_, column),
                       static_cast<size_t>(PQgetlength(result_.get(), row_, column)));
  }
  std::string Blob(int column) const override {
    if (!Valid(column) || PQftype(result_.get(), column) != kByteaOid) return Text(column);
    size_t n = 0;
    unsigned char* bytes =
        PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row_, column)), &n);
    if (!bytes) return {};
    std::string out(reinterpret_cast<const char*>(bytes), n);
    PQfreemem(bytes);
    return out;
  }
  bool IsNull(int column) const override { return !Valid(column) || PQgetisnull(result_.get(), row_, column); }

  const NumberedSql& numbered() const { return numbered_; }
  const std::vector<Param>& params() const { return params_; }

 private:
  void Set(int index, Param p) {
    if (index < 1 || index > numbered_.parameters) {
      if (!bad_index_) bad_index_ = index;
      return;
    }
    params_[static_cast<size_t>(index - 1)] = std::move(p);
  }
  bool Valid(int column) const {
    return result_ && row_ >= 0 && row_ < PQntuples(result_.get()) && column >= 0 && column < PQnfields(result_.get());
  }

  PostgresConnection& connection_;
  std::string sql_;
  NumberedSql numbered_;
  std::vector<Param> params_ = std::vector<Param>(static_cast<size_t>(numbered_.parameters));
  PgResult result_;
  bool ran_ = false;
  int row_ = -1;
  int bad_index_ = 0;
};

class PostgresConnection final : public Connection {
 public:
  PostgresConnection(PGconn* conn, std::string description) : conn_(conn), description_(std::move(description)) {
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // NOTICEs are not errors
  }
  ~PostgresConnection() override {
    DropStatements();
    PQfinish(conn_);
  }

  Status Exec(std::string_view sql) override {
    EDGE_TRY(EnsureConnected());
    PgResult r(PQexec(conn_, std::string(sql).c_str()));
    return Check(r, "executing SQL");
  }
  int64_t Changes() const override { return changes_; }
  Status Migrate(std::span<const Migration> migrations) override;
  Result<int> SchemaVersion() override;
  const std::string& Describe() const override { return description_; }

  // Runs a PgStatement (prepared on the server on first use, per parameter types).
  Result<PgResult> Execute(const PgStatement& st);

 protected:
  Result<std::unique_ptr<StatementImpl>> PrepareNew(std::string_view sql) override {
    return std::unique_ptr<StatementImpl>(new PgStatement(*this, std::string(sql)));
  }
  Result<bool> Begin(Kind kind) override {
    EDGE_TRY(EnsureConnected());
    conflict_ = false;
    EDGE_TRY(Exec(kind == Kind::kWrite ? "BEGIN ISOLATION LEVEL SERIALIZABLE"
                                       : "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
    tx_open_ = true;
    return true;
  }
  Status Commit() override;
  void Rollback() override {
    tx_open_ = false;
    if (PQstatus(conn_) == CONNECTION_OK) PgResult(PQexec(conn_, "ROLLBACK"));
  }
  bool TakeConflict() override { return std::exchange(conflict_, false); }

 private:
  // Reconnects a connection that was lost, between transactions (never inside one: its work
  // is gone with the connection and the call that saw it has failed).
  Status EnsureConnected();
  // Ok for a result that succeeded; else the error, from the result's SQLSTATE.
  Status Check(const PgResult& r, std::string_view what);
  Status RunMigrations(std::span<const Migration> migrations);

  PGconn* conn_;
  std::string description_;
  std::map<std::string, std::string> prepared_;  // SQL and parameter types -> server statement name
  int64_t changes_ = 0;
  bool conflict_ = false;
  bool tx_open_ = false;
};

Result<bool> PgStatement::Step() {
  if (!ran_) {
    if (bad_index_)
      return Fail(ErrorCode::kInternal, "binding parameter " + std::to_string(bad_index_) + " of '" + sql_ +
                                            "': it has " + std::to_string(numbered_.parameters) + " parameters");
    EDGE_ASSIGN_OR_RETURN(result_, connection_.Execute(*this));
    ran_ = true;
  }
  if (row_ + 1 >= PQntuples(result_.get())) {
    row_ = PQntuples(result_.get());
    return false;
  }
  ++row_;
  return true;
}

Status PostgresConnection::EnsureConnected() {
  if (PQstatus(conn_) == CONNECTION_OK) return Ok();
  if (tx_open_)
    return Fail(ErrorCode::kUnavailable, "lost the connection to " + description_ + " in a transaction");
  PQreset(conn_);
  if (PQstatus(conn_) != CONNECTION_OK)
    return Fail(ErrorCode::kUnavailable, "cannot reach " + description_ + ": " + TrimEnd(PQerrorMessage(conn_)));
  prepared_.clear();  // the server forgot them with the old session
  log::Info("reconnected to PostgreSQL", {{"database", description_}});
  return Ok();
}

Status PostgresConnection::Check(const PgResult& r, std::string_view what) {
  const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    const char* command = PQcmdStatus(r.get());
    if (StartsWith(command, "INSERT") || StartsWith(command, "UPDATE") || StartsWith(command, "DELETE"))
      changes_ = std::strtoll(PQcmdTuples(r.get()), nullptr, 10);
    return Ok();
  }
  if (PQstatus(conn_) != CONNECTION_OK) {
    return Fail(ErrorCode::kUnavailable,
                std::string(what) + ": lost the connection to " + description_ + ": " +
                    TrimEnd(PQerrorMessage(conn_)) + "; nothing of this call was committed (the next call reconnects)");
  }
  const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
  const char* primary = r ? PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
  const std::string sqlstate = state ? state : "";
  // The primary message only: the detail line can quote the row's values.
  std::string message = std::string(what) + " on " + description_ + ": " +
                        (primary ? std::string(primary) : TrimEnd(PQerrorMessage(conn_))) +
                        (sqlstate.empty() ? "" : " (SQLSTATE " + sqlstate + ")");
  ErrorCode code = ErrorCode::kIo;
  if (sqlstate == "40001" || sqlstate == "40P01") {
    conflict_ = true;
    code = ErrorCode::kUnavailable;
  } else if (sqlstate == "23505") {
    code = ErrorCode::kAlreadyExists;
  } else if (sqlstate == "23503") {
    code = ErrorCode::kNotFound;  // the row refers to something that does not exist
  } else if (StartsWith(sqlstate, "23") || StartsWith(sqlstate, "22")) {
    code = ErrorCode::kInvalidArgument;  // a constraint, or a value the column cannot hold
  } else if (StartsWith(sqlstate, "08") || StartsWith(sqlstate, "57P")) {
    code = ErrorCode::kUnavailable;  // connection trouble, the server shutting down
  } else if (StartsWith(sqlstate, "53")) {
    code = ErrorCode::kResourceExhausted;  // disk full, out of memory or connections
  } else if (StartsWith(sqlstate, "XX00")) {
    code = ErrorCode::kDataLoss;
  }
  return Fail(code, std::move(message));
}

Result<PgResult> PostgresConnection::Execute(const PgStatement& st) {
  EDGE_TRY(EnsureConnected());
  const auto& params = st.params();
  std::string key = st.numbered().sql;
  key += '\0';
  std::vector<Oid> types;
  std::vector<const char*> values;
  std::vector<int> lengths, formats;
  for (const auto& p : params) {
    key += std::to_string(p.type) + ",";
    types.push_back(p.type);
    values.push_back(p.type == 0 ? nullptr : p.value.c_str());
    lengths.push_back(static_cast<int>(p.value.size()));
    formats.push_back(p.binary ? 1 : 0);
  }
  const int n = static_cast<int>(params.size());
  const std::string what = "executing '" + st.sql() + "'";
  auto name = prepared_.find(key);
  if (name == prepared_.end()) {
    const std::string fresh = "edge_" + std::to_string(prepared_.size() + 1);
    PgResult r(PQprepare(conn_, fresh.c_str(), st.numbered().sql.c_str(), n, types.data()));
    EDGE_TRY(Check(r, "preparing '" + st.sql() + "'"));
    name = prepared_.emplace(std::move(key), fresh).first;
  }
  PgResult r(PQexecPrepared(conn_, name->second.c_str(), n, values.data(), lengths.data(), formats.data(), 0));
  EDGE_TRY(Check(r, what));
  return r;
}

Status PostgresConnection::Commit() {
  PgResult r(PQexec(conn_, "COMMIT"));
  const bool lost = PQstatus(conn_) != CONNECTION_OK;
  tx_open_ = false;
  if (lost)
    return Fail(ErrorCode::kUnavailable, "lost the connection to " + description_ + " while committing: " +
                                             TrimEnd(PQerrorMessage(conn_)) +
                                             "; whether the change was committed is unknown (the next call reconnects)");
  EDGE_TRY(Check(r, "committing"));
  // COMMIT of a transaction that had failed rolls it back and says so only in its tag.
  if (StartsWith(PQcmdStatus(r.get()), "ROLLBACK"))
    return Fail(ErrorCode::kInternal, "committing on " + description_ + ": the transaction had failed and was rolled back");
  return Ok();
}

Result<int> PostgresConnection::SchemaVersion() {
  EDGE_ASSIGN_OR_RETURN(auto exists, Prepare("SELECT to_regclass('schema_migrations') IS NOT NULL"));
  EDGE_ASSIGN_OR_RETURN(bool row, exists.Step());
  if (!row || exists.Int(0) == 0) return 0;
  EDGE_ASSIGN_OR_RETURN(auto st, Prepare("SELECT coalesce(max(number), 0) FROM schema_migrations"));
  EDGE_TRY(st.Step());
  return static_cast<int>(st.Int(0));
}

Status PostgresConnection::Migrate(std::span<const Migration> migrations) {
  EDGE_TRY(CheckMigrationOrder(migrations));
  EDGE_TRY(EnsureConnected());
  // One transaction for all pending migrations: the schema is the old one or the new one.
  EDGE_TRY(Exec("BEGIN"));
  tx_open_ = true;
  Status s = RunMigrations(migrations);
  if (s) s = Commit();
  if (!s) Rollback();
  return s;
}

Status PostgresConnection::RunMigrations(std::span<const Migration> migrations) {
  EDGE_ASSIGN_OR_RETURN(auto schema, Prepare("SELECT current_schema()"));
  EDGE_ASSIGN_OR_RETURN(bool row, schema.Step());
  if (!row || schema.IsNull(0))
    return Fail(ErrorCode::kBadConfig, description_ + ": the search_path names no schema that exists; create the "
                                                      "schema, or fix the URL's options=-csearch_path=...");
  // A second controller starting now waits here, then finds the migrations applied.
  EDGE_TRY(Exec("SELECT pg_advisory_xact_lock(" + std::to_string(kMigrationLockClass) + ", hashtext(current_schema()))"));
  EDGE_ASSIGN_OR_RETURN(int current, SchemaVersion());
  if (current == 0)
    EDGE_TRY(Exec("CREATE TABLE IF NOT EXISTS schema_migrations (number integer PRIMARY KEY, name text NOT NULL, "
                  "applied_at timestamptz NOT NULL DEFAULT now())"));
  EDGE_TRY(CheckNotNewer(current, migrations, description_));
  for (const auto& m : migrations) {
    if (m.number <= current) continue;
    if (auto s = Exec(m.sql); !s)
      return Fail(s.error().Wrap("migration " + std::to_string(m.number) + " (" + std::string(m.name) + ")"));
    EDGE_ASSIGN_OR_RETURN(auto record, Prepare("INSERT INTO schema_migrations(number, name) VALUES (?, ?)"));
    record.Bind(1, int64_t{m.number}).Bind(2, m.name);
    EDGE_TRY(record.Run());
  }
  return Ok();
}

}  // namespace

bool PostgresAvailable() { return true; }

Result<std::string> DescribePostgresUrl(std::string_view url) { return Describe(std::string(url)); }

namespace {

// A libpq connection to `url` with the adapter's defaults, and what it names (no password).
Result<std::pair<PGconn*, std::string>> Connect(const std::string& url) {
  EDGE_ASSIGN_OR_RETURN(auto description, Describe(url));
  // Before dbname: defaults the URL may override. After it: what the adapter relies on.
  const char* keywords[] = {"connect_timeout", "keepalives_idle", "keepalives_interval", "keepalives_count",
                            "fallback_application_name", "dbname", "client_encoding", nullptr};
  const char* values[] = {"10", "30", "10", "3", "edge-controller", url.c_str(), "UTF8", nullptr};
  PGconn* conn = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (!conn) return Fail(ErrorCode::kResourceExhausted, "connecting to " + description + ": out of memory");
  if (PQstatus(conn) != CONNECTION_OK) {
    const std::string why = Redact(TrimEnd(PQerrorMessage(conn)), url);
    PQfinish(conn);
    return Fail(ErrorCode::kUnavailable, "cannot connect to " + description + ": " + why);
  }
  if (const int version = PQserverVersion(conn); version < 100000) {
    PQfinish(conn);
    return Fail(ErrorCode::kFailedPrecondition, description + " runs PostgreSQL " + std::to_string(version / 10000) +
                                                    "; the store needs 10 or newer (it is tested with 15)");
  }
  return std::make_pair(conn, std::move(description));
}

class Listener final : public PostgresListener {
 public:
  Listener(PGconn* conn, std::string description) : conn_(conn), description_(std::move(description)) {}
  ~Listener() override { PQfinish(conn_); }
  int fd() const override { return PQsocket(conn_); }
  Result<bool> Drain() override {
    if (PQconsumeInput(conn_) == 0 || PQstatus(conn_) != CONNECTION_OK)
      return Fail(ErrorCode::kUnavailable, "lost the notification connection to " + description_ + ": " +
                                               TrimEnd(PQerrorMessage(conn_)));
    bool any = false;
    while (PGnotify* n = PQnotifies(conn_)) {
      any = true;
      PQfreemem(n);
    }
    return any;
  }

 private:
  PGconn* conn_;
  std::string description_;
};

}  // namespace

Result<std::unique_ptr<Connection>> OpenPostgres(const std::string& url) {
  EDGE_ASSIGN_OR_RETURN(auto connected, Connect(url));
  return std::unique_ptr<Connection>(new PostgresConnection(connected.first, std::move(connected.second)));
}

Result<std::unique_ptr<PostgresListener>> ListenPostgres(const std::string& url, const std::string& channel) {
  if (channel.empty() || channel.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
    return Fail(ErrorCode::kInvalidArgument, "'" + channel + "' is not a channel name (lower-case letters, digits, _)");
  EDGE_ASSIGN_OR_RETURN(auto connected, Connect(url));
  auto listener = std::make_unique<Listener>(connected.first, connected.second);
  PgResult r(PQexec(connected.first, ("LISTEN " + channel).c_str()));
  if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
    return Fail(ErrorCode::kUnavailable, "LISTEN " + channel + " on " + connected.second + ": " +
                                             TrimEnd(PQerrorMessage(connected.first)));
  return std::unique_ptr<PostgresListener>(std::move(listener));
}

}  // namespace edge::sql
