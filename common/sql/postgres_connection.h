// The SQL layer's PostgreSQL adapter (libpq), for several controllers sharing one database.
//
// Concurrency rule: every write transaction runs at SERIALIZABLE isolation, and one that loses
// to a concurrent writer (serialization failure 40001 or deadlock 40P01, at any statement or at
// COMMIT) is rolled back and run again from the start, at most Connection::kWriteAttempts
// times, with a short jittered back-off (Connection::Write). SERIALIZABLE makes every
// read-check-write of the store (a token used once, the last admin kept, a version deleted only
// when nothing needs it, a trust policy only moving forward, at most 64 models per device)
// correct against any interleaving with other controllers without a lock per case to get
// right; the retry turns the rare conflict into a little latency. Reads whose statements must
// agree run in one REPEATABLE READ READ ONLY transaction (Connection::Read: one snapshot, never
// refused).
// Migrations run in one transaction under pg_advisory_xact_lock, so controllers started at the
// same time apply them once.
//
// A connection lost mid-call fails that call (kUnavailable, saying whether a commit may have
// happened); the next call reconnects. Statements are prepared on the server once per
// connection (PQprepare) and run with text parameters (PQexecPrepared).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "common/sql/connection.h"

namespace edge::sql {

// Whether this build has the PostgreSQL adapter (cmake -DEDGE_POSTGRES=ON, the default on
// x86-64; the arm64 cross build leaves it out).
bool PostgresAvailable();

// Checks that `url` is a postgresql:// (or postgres://) URL libpq accepts and says what it
// names, for logs and messages: "PostgreSQL user@host:port/dbname" (no password, no
// parameters). kBadConfig naming what is wrong, never the password; in a build without
// PostgreSQL, kBadConfig saying so.
Result<std::string> DescribePostgresUrl(std::string_view url);

// Connects to `url` (libpq's URL form: postgresql://user@host:port/dbname?param=value...).
// Defaults that the URL may override: connect_timeout=10, TCP keepalives after 30 s idle,
// application_name edge-controller. kBadConfig for a bad URL, kUnavailable when the server
// cannot be reached or refuses the connection, kFailedPrecondition for a server older than 10
// or a build without PostgreSQL.
Result<std::unique_ptr<Connection>> OpenPostgres(const std::string& url);

// A connection of its own that only waits for notifications on one channel (LISTEN), for an
// event loop to watch: its descriptor turns readable when something arrived, and Drain reads it.
class PostgresListener {
 public:
  virtual ~PostgresListener() = default;
  virtual int fd() const = 0;
  // Consumes what arrived: true when at least one notification came. kUnavailable once the
  // connection is lost (open a new listener; notifications sent meanwhile are lost).
  virtual Result<bool> Drain() = 0;
};
// Connects as OpenPostgres does and runs LISTEN `channel` (an SQL identifier of letters, digits
// and _; kInvalidArgument otherwise).
Result<std::unique_ptr<PostgresListener>> ListenPostgres(const std::string& url, const std::string& channel);

}  // namespace edge::sql
