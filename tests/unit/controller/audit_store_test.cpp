// Audit rows with a result: refused operator calls are stored beside the actions, filtered by
// result, bounded like every audit row, and a schema-5 database upgrades to them.
#include <catch2/catch.hpp>

#include "common/sqlite/db.h"
#include "controller/store/store.h"
#include "core/temp_dir.h"
#include "store_fixture.h"

using namespace edge::controller;
using edge::ErrorCode;
using edge::controller::testing::Fixture;
using edge::controller::testing::kT0;

namespace {

AuditRecord Refused(int64_t at, const std::string& actor, const std::string& rpc, const std::string& result) {
  return {0, at, actor, rpc, "rpc/" + rpc, "why", result};
}

std::vector<std::string> Results(const std::vector<AuditRecord>& rows) {
  std::vector<std::string> out;
  for (const auto& r : rows) out.push_back(r.result);
  return out;
}

}  // namespace

TEST_CASE("Store: an action's audit row is ok and a refused call's row keeps its result", "[store][audit]") {
  EDGE_STORE_FIXTURE(f);
  REQUIRE(f.store->CreateSite("factory-1", "operator/admin", kT0));
  REQUIRE(f.store->Audit(Refused(kT0 + 1, "operator/alice", "CreateRollout", "permission_denied")));
  REQUIRE(f.store->Audit(Refused(kT0 + 2, "operator/alice", "CreateRollout", "invalid_argument")));
  REQUIRE(f.store->Audit(Refused(kT0 + 3, "operator/bob", "GetRollout", "not_found")));
  auto all = f.store->ListAudit({100, "", "", "", ""});
  REQUIRE(all);
  CHECK(Results(*all) == std::vector<std::string>{"not_found", "invalid_argument", "permission_denied", "ok"});
  CHECK(all->back().action == "site.create");
  CHECK((*all)[1].actor == "operator/alice");
  CHECK((*all)[1].action == "CreateRollout");
  CHECK((*all)[1].target == "rpc/CreateRollout");

  auto refused = f.store->ListAudit({100, "", "", "", "refused"});
  CHECK(Results(refused.value()) == std::vector<std::string>{"not_found", "invalid_argument", "permission_denied"});
  auto ok = f.store->ListAudit({100, "", "", "", "ok"});
  REQUIRE(ok.value().size() == 1);
  CHECK(ok.value()[0].action == "site.create");
  auto alice_invalid = f.store->ListAudit({100, "", "operator/alice", "", "invalid_argument"});
  REQUIRE(alice_invalid.value().size() == 1);
  CHECK(alice_invalid.value()[0].at == kT0 + 2);
  CHECK(f.store->ListAudit({100, "", "", "CreateRollout", "refused"}).value().size() == 2);
}

TEST_CASE("Store: an audit row with an unknown result is refused and writes nothing", "[store][audit]") {
  EDGE_STORE_FIXTURE(f);
  for (const char* bad : {"", "denied", "OK", "internal", "ok; DROP TABLE audit"}) {
    auto s = f.store->Audit(Refused(kT0, "operator/alice", "CreateSite", bad));
    REQUIRE_FALSE(s);
    CHECK(s.error().code == ErrorCode::kInvalidArgument);
  }
  CHECK(f.store->ListAudit({100, "", "", "", ""}).value().empty());
}

TEST_CASE("Store: refused calls count against the audit bound like any row", "[store][audit][bounds]") {
  StoreOptions options;
  options.audit_rows = 10;
  EDGE_STORE_FIXTURE(f, options);
  REQUIRE(f.store->CreateSite("factory-1", "operator/admin", kT0));
  for (int i = 0; i < 50; ++i) REQUIRE(f.store->Audit(Refused(kT0 + 1 + i, "operator/mallory", "CreateSite", "permission_denied")));
  auto rows = f.store->ListAudit({1000, "", "", "", ""});
  REQUIRE(rows->size() == 10);
  CHECK(rows->front().at == kT0 + 50);
  CHECK(rows->back().at == kT0 + 41);
}

TEST_CASE("Store: a schema-5 database upgrades to audit results and keeps its rows", "[store][sqlite][audit][migrations]") {
  edge::testing::TempDir dir;
  const auto path = (dir / "controller.db").string();
  {
    auto db = edge::sqlite::Db::Open(path);
    REQUIRE(db);
    REQUIRE(db->Migrate(Migrations().first(5)));
    // What schema 5 wrote: an action, and a refusal as action 'denied' on target rpc/<Name>.
    REQUIRE(db->Exec("INSERT INTO audit(at, actor, action, target, detail) VALUES "
                     "(1, 'operator/admin', 'site.create', 'site/factory-1', ''), "
                     "(2, 'operator/alice', 'denied', 'rpc/CreateSite', 'CreateSite needs the admin role'), "
                     "(3, 'operator/bob', 'denied', 'device/x', 'not a refusal row of ours')"));
  }
  auto store = OpenSqliteStore(path);
  REQUIRE(store);
  CHECK(edge::sqlite::Db::Open(path)->SchemaVersion().value() == static_cast<int>(Migrations().size()));
  auto rows = (*store)->ListAudit({100, "", "", "", ""});
  REQUIRE(rows);
  REQUIRE(rows->size() == 3);
  CHECK((*rows)[2].result == "ok");
  CHECK((*rows)[2].action == "site.create");
  CHECK((*rows)[1].result == "permission_denied");
  CHECK((*rows)[1].action == "CreateSite");
  CHECK((*rows)[1].target == "rpc/CreateSite");
  CHECK((*rows)[1].detail == "CreateSite needs the admin role");
  CHECK((*rows)[0].result == "ok");  // only rpc/ targets were refusals
  CHECK((*rows)[0].action == "denied");
  REQUIRE((*store)->Audit(Refused(4, "operator/alice", "CreateSite", "already_exists")));
}
