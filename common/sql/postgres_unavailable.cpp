// postgres_connection.h in a build without libpq (cmake -DEDGE_POSTGRES=OFF, as the arm64
// cross build is: Debian's libpq-dev:arm64 cannot be installed beside the host's libpq-dev).
#include "common/sql/postgres_connection.h"

namespace edge::sql {
namespace {

constexpr const char* kMissing =
    "this build of edgefleet has no PostgreSQL support (built with -DEDGE_POSTGRES=OFF, as the arm64 build is); "
    "use store backend \"sqlite\", or a build with PostgreSQL (the x86-64 packages)";

}  // namespace

bool PostgresAvailable() { return false; }

Result<std::string> DescribePostgresUrl(std::string_view) { return Fail(ErrorCode::kBadConfig, kMissing); }

Result<std::unique_ptr<Connection>> OpenPostgres(const std::string&) {
  return Fail(ErrorCode::kFailedPrecondition, kMissing);
}

Result<std::unique_ptr<PostgresListener>> ListenPostgres(const std::string&, const std::string&) {
  return Fail(ErrorCode::kFailedPrecondition, kMissing);
}

}  // namespace edge::sql
