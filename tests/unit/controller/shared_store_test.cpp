// Several controllers on one database (the PostgreSQL scale-out path, DESIGN §9): each has its
// own store, and the checks that guard a write (a token used once, one admin kept) hold when
// another store writes at the same moment. On SQLite the two stores are two connections to one
// file (BEGIN IMMEDIATE makes them take turns); on PostgreSQL two sessions whose SERIALIZABLE
// transactions the server refuses to interleave wrongly, and the store runs the loser again.
// Also: what a store refuses to open, and (PostgreSQL) a lost connection, concurrent
// migrations and the schema's likeness to SQLite's.
#include <algorithm>
#include <latch>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "common/sqlite/db.h"
#include "controller/store/store.h"
#include "store_fixture.h"

using namespace edge::controller;
using edge::ErrorCode;
using edge::Result;
using edge::controller::testing::Fixture;
using edge::controller::testing::kT0;
using edge::controller::testing::OpenStore;
using edge::controller::testing::StoreMigrations;
using edge::testing::TestDatabase;

namespace {

// Runs `a` here and `b` on another thread, released together.
template <typename A, typename B>
void AtOnce(A&& a, B&& b) {
  std::latch start(2);
  std::thread other([&] {
    start.arrive_and_wait();
    b();
  });
  start.arrive_and_wait();
  a();
  other.join();
}

}  // namespace

TEST_CASE("Store: two controllers racing for one enrollment token enroll one device", "[store][concurrency]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  auto second = f.Open();
  constexpr int kRounds = 20;
  int one_winner = 0;
  std::vector<std::string> refusals;
  for (int i = 0; i < kRounds; ++i) {
    const std::string token = "race-" + std::to_string(i);
    f.Token(token, "plant-7", 3600);
    DeviceRecord a, b;
    a.id = "gw-a" + std::to_string(i);
    b.id = "gw-b" + std::to_string(i);
    Result<DeviceRecord> ra, rb;
    AtOnce([&] { ra = f.store->EnrollDevice(token, a, kT0); }, [&] { rb = second->EnrollDevice(token, b, kT0); });
    if (ra.has_value() != rb.has_value()) ++one_winner;
    for (auto* r : {&ra, &rb})
      if (!*r) refusals.push_back(std::string(edge::ErrorCodeName(r->error().code)) + ": " + r->error().message);
  }
  CHECK(one_winner == kRounds);
  for (const auto& r : refusals) CHECK_THAT(r, Catch::Contains("enrollment token has already been used"));
  CHECK(f.store->ListDevices("plant-7").value().size() == kRounds);
  CHECK(f.AuditFor("device.enroll").size() == kRounds);
}

TEST_CASE("Store: two controllers demoting the two admins at once keep one admin", "[store][concurrency][roles]") {
  EDGE_STORE_FIXTURE(f);
  REQUIRE(f.store->EnsureInitialAdmin("alice", kT0).value());
  REQUIRE(f.store->AddOperator("bob", "admin", "operator/alice", kT0));
  auto second = f.Open();
  constexpr int kRounds = 10;
  for (int i = 0; i < kRounds; ++i) {
    Result<OperatorRecord> ra, rb;
    AtOnce([&] { ra = f.store->SetOperatorRole("alice", "viewer", "operator/bob", kT0 + i); },
           [&] { rb = second->SetOperatorRole("bob", "viewer", "operator/alice", kT0 + i); });
    INFO("round " << i);
    REQUIRE(ra.has_value() != rb.has_value());  // never both: that would leave no admin
    const auto& refused = ra ? rb : ra;
    CHECK(refused.error().code == ErrorCode::kFailedPrecondition);
    CHECK_THAT(refused.error().message, Catch::Contains("is the last admin"));
    const auto operators = f.store->ListOperators();
    REQUIRE(operators);
    CHECK(std::count_if(operators->begin(), operators->end(), [](const OperatorRecord& o) { return o.role == "admin"; }) == 1);
    REQUIRE(f.store->SetOperatorRole(ra ? "alice" : "bob", "admin", "operator/root", kT0 + i));
  }
}

TEST_CASE("Store: a database with a newer schema than this binary is refused and keeps its data",
          "[store][migrations]") {
  EDGE_STORE_FIXTURE(f);
  REQUIRE(f.store->CreateSite("plant-7", "op/admin", kT0));
  f.store.reset();
  const int newest = edge::sql::NewestSchema(StoreMigrations(f.db));
  // What a newer controller (one with migration N+1) leaves behind.
  f.Exec(f.db.postgres() ? "INSERT INTO schema_migrations(number, name) VALUES (" + std::to_string(newest + 1) +
                               ", '999_from_a_newer_controller')"
                         : "PRAGMA user_version = " + std::to_string(newest + 1));
  auto refused = OpenStore(f.db);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::kFailedPrecondition);
  CHECK_THAT(refused.error().message,
             Catch::Contains("has schema version " + std::to_string(newest + 1) + ", newer than this program knows (" +
                             std::to_string(newest) + "); refusing to run an older binary against it"));
  CHECK(f.QueryInt("SELECT count(*) FROM sites WHERE name = 'plant-7'") == 1);
}

TEST_CASE("Store: listings sort names by their bytes whatever the database's locale", "[store]") {
  EDGE_STORE_FIXTURE(f);
  // Byte order puts capitals before '_' before lower case before non-ASCII; a linguistic
  // collation (the test server's default is ICU en-US) would interleave them.
  const std::vector<std::string> names = {"a-site", "Z-site", "_site", "B-site", "\xc3\xa9-site", "b-site"};
  for (const auto& n : names) f.Site(n);
  for (const auto& n : names) f.Enroll("gw-" + n, "a-site");
  auto sorted = names;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> sites, devices;
  const auto listed_sites = f.store->ListSites();
  const auto listed_devices = f.store->ListDevices("a-site");
  REQUIRE(listed_sites);
  REQUIRE(listed_devices);
  for (const auto& s : *listed_sites) sites.push_back(s.name);
  for (const auto& d : *listed_devices) devices.push_back(d.id.substr(3));
  CHECK(sites == sorted);
  CHECK(devices == sorted);
}

TEST_CASE("Store: two controllers starting at once on an empty PostgreSQL database migrate it once",
          "[store][postgres][migrations]") {
  EDGE_ONLY_ON_POSTGRES();
  TestDatabase db;
  Result<std::unique_ptr<Store>> a, b;
  AtOnce([&] { a = OpenStore(db); }, [&] { b = OpenStore(db); });
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE((*a)->CreateSite("plant-7", "op/admin", kT0));
  CHECK((*b)->SiteExists("plant-7").value());
  auto c = db.Connect();
  auto st = c->Prepare("SELECT count(*), max(number) FROM schema_migrations");
  REQUIRE(st);
  REQUIRE(st->Step().value());
  CHECK(st->Int(0) == static_cast<int64_t>(postgres::Migrations().size()));
  CHECK(st->Int(1) == edge::sql::NewestSchema(postgres::Migrations()));
}

TEST_CASE("Store: a PostgreSQL connection cut mid-run fails one call and the next reconnects with nothing lost",
          "[store][postgres]") {
  EDGE_ONLY_ON_POSTGRES();
  EDGE_STORE_FIXTURE(f);
  REQUIRE(f.store->CreateSite("plant-7", "op/admin", kT0));
  // What a server restart or a network cut does to the controller's session.
  auto kill = f.db.schema().admin().Prepare(
      "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = ?");
  REQUIRE(kill);
  kill->Bind(1, f.db.schema().name());
  REQUIRE(kill->Step().value());
  REQUIRE(kill->Int(0) == 1);
  auto cut = f.store->CreateSite("plant-8", "op/admin", kT0);
  REQUIRE_FALSE(cut);
  CHECK(cut.error().code == ErrorCode::kUnavailable);
  CHECK_THAT(cut.error().message, Catch::Contains("lost the connection to PostgreSQL edge@") &&
                                      Catch::Contains("nothing of this call was committed (the next call reconnects)"));
  REQUIRE(f.store->CreateSite("plant-8", "op/admin", kT0));
  const auto listed = f.store->ListSites();
  REQUIRE(listed);
  std::vector<std::string> sites;
  for (const auto& s : *listed) sites.push_back(s.name);
  CHECK(sites == std::vector<std::string>{"plant-7", "plant-8"});
  CHECK(f.AuditFor("site.create").size() == 2);
}

namespace {

// One database's schema as the store sees it, in words both databases can be compared in.
struct Schema {
  std::map<std::string, std::vector<std::string>> columns;  // table -> "name type [not null] [default D]", in order
  std::map<std::string, std::string> primary_keys;           // table -> "a, b"
  std::map<std::string, std::string> indexes;                // name -> "table(a, b)"
  std::set<std::string> foreign_keys;                        // "table (a, b) -> other(x, y)"
};

std::vector<std::vector<std::string>> Rows(edge::sql::Connection& c, const std::string& sql,
                                           const std::string& param = "") {
  auto st = c.Prepare(sql);
  REQUIRE(st);
  if (!param.empty()) st->Bind(1, param);
  std::vector<std::vector<std::string>> rows;
  for (;;) {
    auto more = st->Step();
    REQUIRE(more);
    if (!*more) break;
    std::vector<std::string> row;
    for (int i = 0; i < 6; ++i) row.push_back(st->IsNull(i) ? "" : st->Text(i));
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : ", ") + p;
  return out;
}

std::string Column(const std::string& name, const std::string& type, bool not_null, const std::string& default_value) {
  return name + " " + type + (not_null ? " not null" : "") + (default_value.empty() ? "" : " default " + default_value);
}

Schema SqliteSchema(edge::sql::Connection& c) {
  Schema s;
  const std::map<std::string, std::string> types = {{"INTEGER", "bigint"}, {"TEXT", "text"}, {"BLOB", "bytea"}};
  for (const auto& t : Rows(c, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")) {
    const std::string& table = t[0];
    std::vector<std::string> pk;
    for (const auto& col : Rows(c, "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid", table)) {
      const bool in_pk = col[4] != "0";
      // SQLite lets a TEXT primary key hold NULL (a legacy quirk); the store never writes one.
      s.columns[table].push_back(Column(col[0], types.at(col[1]), col[2] == "1" || in_pk, col[3]));
      if (in_pk) pk.push_back(col[0]);
    }
    s.primary_keys[table] = Join(pk);
    std::map<std::string, std::vector<std::string>> from, to, target;
    for (const auto& fk : Rows(c, "SELECT id, \"table\", \"from\", \"to\" FROM pragma_foreign_key_list(?) ORDER BY id, seq", table)) {
      target[fk[0]] = {fk[1]};
      from[fk[0]].push_back(fk[2]);
      to[fk[0]].push_back(fk[3]);
    }
    for (const auto& [id, other] : target)
      s.foreign_keys.insert(table + " (" + Join(from[id]) + ") -> " + other[0] + "(" + Join(to[id]) + ")");
  }
  for (const auto& ix : Rows(c, "SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")) {
    std::vector<std::string> cols;
    for (const auto& col : Rows(c, "SELECT name FROM pragma_index_info(?) ORDER BY seqno", ix[0])) cols.push_back(col[0]);
    s.indexes[ix[0]] = ix[1] + "(" + Join(cols) + ")";
  }
  return s;
}

Schema PostgresSchema(edge::sql::Connection& c) {
  Schema s;
  for (const auto& t : Rows(c, "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                               "AND table_name <> 'schema_migrations'")) {
    const std::string& table = t[0];
    for (const auto& col : Rows(c, "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns "
                                   "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position", table)) {
      std::string default_value = col[3];
      for (std::string_view cast : {"::text", "::bigint"})
        if (default_value.size() > cast.size() && default_value.ends_with(cast))
          default_value.resize(default_value.size() - cast.size());
      s.columns[table].push_back(Column(col[0], col[1], col[2] == "NO", default_value));
    }
    std::vector<std::string> pk;
    for (const auto& col : Rows(c, "SELECT kcu.column_name FROM information_schema.table_constraints tc "
                                   "JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = tc.constraint_name "
                                   "AND kcu.table_schema = tc.table_schema WHERE tc.table_schema = current_schema() "
                                   "AND tc.table_name = ? AND tc.constraint_type = 'PRIMARY KEY' ORDER BY kcu.ordinal_position",
                                table))
      pk.push_back(col[0]);
    s.primary_keys[table] = Join(pk);
  }
  for (const auto& ix : Rows(c, "SELECT indexname, tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                                "AND indexname NOT LIKE '%_pkey'")) {
    const std::string& def = ix[2];  // CREATE INDEX name ON schema.table USING btree (a, b)
    s.indexes[ix[0]] = ix[1] + def.substr(def.rfind('('));
  }
  // "FOREIGN KEY (a, b) REFERENCES other(x, y)"
  for (const auto& fk : Rows(c, "SELECT conrelid::regclass::text, pg_get_constraintdef(oid) FROM pg_constraint "
                                "WHERE contype = 'f' AND connamespace = current_schema()::regnamespace")) {
    std::string def = fk[1];
    def = def.substr(std::string("FOREIGN KEY ").size());
    def.replace(def.find(" REFERENCES "), 12, " -> ");
    s.foreign_keys.insert(fk[0] + " " + def);
  }
  return s;
}

}  // namespace

TEST_CASE("Store: the PostgreSQL schema has SQLite's tables and columns and keys and indexes",
          "[store][postgres][migrations]") {
  EDGE_ONLY_ON_POSTGRES();
  EDGE_STORE_FIXTURE(f);
  edge::testing::TempDir dir;
  REQUIRE(OpenSqliteStore((dir / "controller.db").string()));
  auto sqlite = edge::sql::SqliteConnection::Open(dir / "controller.db");
  REQUIRE(sqlite);
  const Schema want = SqliteSchema(**sqlite);
  const Schema got = PostgresSchema(*f.Connect());
  CHECK(edge::sql::NewestSchema(Migrations()) == edge::sql::NewestSchema(postgres::Migrations()));
  REQUIRE(want.columns.size() > 10);
  for (const auto& [table, columns] : want.columns) {
    INFO("table " << table);
    REQUIRE(got.columns.count(table));
    CHECK(got.columns.at(table) == columns);
    CHECK(got.primary_keys.at(table) == want.primary_keys.at(table));
  }
  CHECK(got.columns.size() == want.columns.size());
  CHECK(got.indexes == want.indexes);
  CHECK(got.foreign_keys == want.foreign_keys);
}
