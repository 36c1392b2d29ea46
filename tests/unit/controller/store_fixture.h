// A store on a database of its own, with helpers to make sites, devices and versions (shared
// by the store tests). The database is a SQLite file in a temp dir, or, in the PostgreSQL run of
// the store tests (tests/CMakeLists.txt), an empty schema on the test server
// (tests/support/postgres_test_db.h): the same test cases run against both.
//
// A test case that runs on both starts with EDGE_STORE_FIXTURE(f) and is tagged [store]; one
// that only makes sense on SQLite (an upgrade from an old SQLite file) is tagged [sqlite], and
// one only for PostgreSQL [postgres].
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/core/clock.h"
#include "controller/store/migrations.h"
#include "controller/store/store.h"
#include "test_database.h"

namespace edge::controller::testing {

constexpr int64_t kT0 = 1'800'000'000;

// A store on `db`, and the migrations of its kind of database.
inline Result<std::unique_ptr<Store>> OpenStore(edge::testing::TestDatabase& db, StoreOptions options = {}) {
  return db.postgres() ? OpenPostgresStore(db.schema().url(), options) : OpenSqliteStore(db.path(), options);
}
inline std::span<const sql::Migration> StoreMigrations(const edge::testing::TestDatabase& db) {
  return db.postgres() ? postgres::Migrations() : controller::Migrations();
}

struct Fixture {
  edge::testing::TestDatabase db;
  std::unique_ptr<Store> store;
  edge::FakeClock clock{kT0};

  explicit Fixture(StoreOptions options = {}) : store(Open(options)) {}

  // Another store on the same database: what a restarted controller, or a second one sharing
  // the database, has.
  std::unique_ptr<Store> Open(StoreOptions options = {}) {
    auto s = OpenStore(db, options);
    if (!s) FAIL("opening the store: " << s.error().message);
    return std::move(*s);
  }
  std::unique_ptr<sql::Connection> Connect() { return db.Connect(); }
  // Runs SQL on a connection of its own (a change the Store interface does not make).
  void Exec(const std::string& sql) {
    auto s = Connect()->Exec(sql);
    if (!s) FAIL(sql << ": " << s.error().message);
  }
  // The first column of the first row of `sql`, as an integer.
  int64_t QueryInt(const std::string& sql) {
    auto c = Connect();
    auto st = c->Prepare(sql);
    if (!st) FAIL(sql << ": " << st.error().message);
    auto row = st->Step();
    if (!row || !*row) FAIL(sql << ": no row");
    return st->Int(0);
  }

  void Site(const std::string& name) { REQUIRE(store->CreateSite(name, "op/admin", clock.NowUnix())); }

  void Token(const std::string& hash, const std::string& site, int64_t ttl) {
    TokenRecord t{hash, site, "op/admin", clock.NowUnix(), clock.NowUnix() + ttl};
    REQUIRE(store->CreateToken(t, "op/admin"));
  }

  DeviceRecord Enroll(const std::string& id, const std::string& site) {
    Token("hash-" + id, site, 3600);
    DeviceRecord d;
    d.id = id;
    d.cert_serial = "serial-" + id;
    d.cert_not_after = kT0 + 86400;
    auto r = store->EnrollDevice("hash-" + id, d, clock.NowUnix());
    REQUIRE(r);
    return *r;
  }

  VersionRecord Version(const std::string& version, uint64_t security_version) {
    VersionRecord v;
    v.model = "detector";
    v.version = version;
    v.security_version = security_version;
    v.manifest_digest = std::string(63, '0') + version.substr(0, 1);
    v.envelope = "envelope of " + version;
    v.total_bytes = 300;
    v.signed_by = "release-1";
    v.pushed_by = "op/admin";
    v.blobs = {{"digest-model-" + version, "model", 200}, {"digest-labels-" + version, "labels", 100}};
    auto added = store->AddVersion(v, clock.NowUnix());
    REQUIRE(added);
    CHECK(*added);
    return v;
  }

  // Makes `version` of detector the desired version of `devices` as the rollout driver does: a
  // rollout, and one dispatch each persisted by SaveRolloutStep. Returns the devices whose
  // desired state changed.
  std::vector<std::string> Desire(const std::vector<std::string>& devices, const std::string& version,
                                  const std::string& actor = "op/admin") {
    rollout::Rollout r;
    r.model = "detector";
    r.version = version;
    r.target.devices = devices;
    r.strategy = rollout::AllAtOnce();
    r.created_by = actor;
    auto created = store->CreateRollout(r, clock.NowUnix());
    REQUIRE(created);
    rollout::Step step;
    step.rollout = *created;
    step.changed = true;
    for (const auto& d : devices) step.dispatches.push_back({d, version, false});
    auto changed = store->SaveRolloutStep(step, "", "", clock.NowUnix());
    REQUIRE(changed);
    return *changed;
  }

  // Stores an all-at-once rollout of `version` of detector whose target is `site` (no devices
  // taken yet: no planner step).
  rollout::Rollout SiteRollout(const std::string& site, const std::string& version, const std::string& actor,
                               int64_t now) {
    rollout::Rollout r;
    r.model = "detector";
    r.version = version;
    r.target.sites = {site};
    r.strategy = rollout::AllAtOnce();
    r.created_by = actor;
    auto created = store->CreateRollout(r, now);
    REQUIRE(created);
    return *created;
  }

  void ReportFloor(const std::string& device, uint64_t floor) {
    ReportedModelRecord m;
    m.model = "detector";
    m.version = "3.0";
    m.security_version = floor;
    m.state = "committed";
    m.security_floor = floor;
    REQUIRE(store->RecordReport(device, {m}, clock.NowUnix()));
  }

  std::vector<AuditRecord> AuditFor(const std::string& action) {
    auto all = store->ListAudit({1000, "", "", ""});
    REQUIRE(all);
    std::vector<AuditRecord> out;
    for (const auto& a : *all)
      if (a.action == action) out.push_back(a);
    return out;
  }
};

}  // namespace edge::controller::testing

// Declares the store fixture `name` on this run's database (StoreOptions may follow), or ends
// the test case as skipped when that database cannot be used here.
#define EDGE_STORE_FIXTURE(name, ...) \
  EDGE_SKIP_UNLESS_DATABASE();        \
  ::edge::controller::testing::Fixture name { __VA_ARGS__ }
