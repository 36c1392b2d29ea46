// The PostgreSQL URL as the controller's config gives it: what it names (for logs), what is
// wrong with a bad one, and the error for a server that cannot be reached. No server needed;
// a build without PostgreSQL skips them.
#include <catch2/catch.hpp>

#include "common/sql/postgres_connection.h"
#include "core/skip.h"

using edge::ErrorCode;
using edge::sql::DescribePostgresUrl;

#define EDGE_REQUIRE_LIBPQ() \
  if (!edge::sql::PostgresAvailable()) EDGE_SKIP("this build has no PostgreSQL support (EDGE_POSTGRES=OFF)")

TEST_CASE("PostgreSQL URL: what it names is said without its password or parameters", "[sql][libpq]") {
  EDGE_REQUIRE_LIBPQ();
  CHECK(DescribePostgresUrl("postgresql://edge:s3cret@db.example:5433/fleet?sslmode=verify-full").value() ==
        "PostgreSQL edge@db.example:5433/fleet");
  CHECK(DescribePostgresUrl("postgres://db.example/fleet").value() == "PostgreSQL db.example/fleet");
  CHECK(DescribePostgresUrl("postgresql:///fleet?host=/run/postgresql&password=s3cret").value() ==
        "PostgreSQL /run/postgresql/fleet");
  CHECK(DescribePostgresUrl("postgresql://a.example:5432,b.example:5433/fleet?target_session_attrs=read-write").value() ==
        "PostgreSQL a.example,b.example:5432,5433/fleet");
}

TEST_CASE("PostgreSQL URL: a bad one is a config error that says why and never shows the password", "[sql][libpq]") {
  EDGE_REQUIRE_LIBPQ();
  struct Case {
    const char* url;
    const char* says;
  };
  const Case cases[] = {
      {"mysql://edge:s3cret@db/fleet", "must start with postgresql://"},
      {"host=db dbname=fleet password=s3cret", "must start with postgresql://"},
      {"postgresql://edge:s3c%zzret@db/fleet", "invalid percent-encoded token"},
      {"postgresql://edge:s3cret@[::1/fleet", "IPv6 host address"},
      {"postgresql://edge:s3cret@db/fleet?sslmod=require", "invalid URI query parameter: \"sslmod\""},
      {"postgresql://edge:s3cret@db:54x2/fleet", "the port '54x2' is not a number from 1 to 65535"},
      {"postgresql://edge:s3cret@db:70000/fleet", "the port '70000'"},
      {"postgresql://edge:s3cret@db/fleet?sslmode=strict", "sslmode 'strict' is not one of"},
  };
  for (const auto& c : cases) {
    INFO(c.url);
    auto r = DescribePostgresUrl(c.url);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kBadConfig);
    CHECK_THAT(r.error().message, Catch::Contains(c.says));
    CHECK_THAT(r.error().message, !Catch::Contains("s3cret") && !Catch::Contains("s3c%zzret"));
  }
}

TEST_CASE("PostgreSQL: a server that cannot be reached is kUnavailable naming it and not the password", "[sql][libpq]") {
  EDGE_REQUIRE_LIBPQ();
  // Port 1 on loopback refuses at once; a socket directory that does not exist has no server.
  for (const char* url : {"postgresql://edge:s3cret@127.0.0.1:1/fleet", "postgresql://edge:s3cret@/fleet?host=/nonexistent"}) {
    INFO(url);
    auto r = edge::sql::OpenPostgres(url);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kUnavailable);
    CHECK_THAT(r.error().message, Catch::StartsWith("cannot connect to PostgreSQL edge@"));
    CHECK_THAT(r.error().message, Catch::Contains("/fleet: "));
    CHECK_THAT(r.error().message, !Catch::Contains("s3cret"));
  }
}
