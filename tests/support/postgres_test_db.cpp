#include "postgres_test_db.h"

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "common/sql/postgres_connection.h"

namespace edge::testing {
namespace {

const char* Env(const char* name) {
  const char* v = std::getenv(name);
  return v && *v ? v : nullptr;
}

std::optional<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// The requested server's URL, or why there is none.
Result<std::string> ServerUrl() {
  if (const char* url = Env("EDGE_TEST_POSTGRES_URL")) return std::string(url);
  const char* dir = Env("EDGE_TEST_POSTGRES");
  if (!dir) return Fail(ErrorCode::kFailedPrecondition, "no PostgreSQL server requested (EDGE_TEST_POSTGRES_URL)");
  if (auto why = ReadFile(std::string(dir) + "/unavailable")) return Fail(ErrorCode::kFailedPrecondition, *why);
  auto url = ReadFile(std::string(dir) + "/url");
  if (!url)
    return Fail(ErrorCode::kUnavailable, std::string("no PostgreSQL server was started in ") + dir +
                                             " (ctest starts it: the fixture test 'postgres: start a throwaway server')");
  return *url;
}

}  // namespace

bool PostgresRequested() { return Env("EDGE_TEST_POSTGRES_URL") || Env("EDGE_TEST_POSTGRES"); }

std::optional<std::string> PostgresUnavailable() {
  if (!PostgresRequested()) return std::nullopt;
  if (!sql::PostgresAvailable()) return std::string("this build has no PostgreSQL support (EDGE_POSTGRES=OFF)");
  auto url = ServerUrl();
  if (!url && url.error().code == ErrorCode::kFailedPrecondition) return url.error().message;
  return std::nullopt;
}

Result<std::unique_ptr<PostgresTestSchema>> PostgresTestSchema::Create() {
  EDGE_ASSIGN_OR_RETURN(std::string url, ServerUrl());
  EDGE_ASSIGN_OR_RETURN(auto admin, sql::OpenPostgres(url));
  std::random_device random;
  char name[40];
  std::snprintf(name, sizeof name, "edge_test_%08x%08x", random(), random());
  EDGE_TRY(admin->Exec(std::string("CREATE SCHEMA ") + name));
  const std::string scoped = url + (url.find('?') == std::string::npos ? "?" : "&") +
                             "options=-csearch_path%3D" + name + "&application_name=" + name;
  return std::unique_ptr<PostgresTestSchema>(new PostgresTestSchema(std::move(admin), name, scoped));
}

PostgresTestSchema::~PostgresTestSchema() { (void)admin_->Exec("DROP SCHEMA " + name_ + " CASCADE"); }

}  // namespace edge::testing
