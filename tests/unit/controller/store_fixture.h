// A store in a temp dir with helpers to make sites, devices and versions (shared by the store
// tests).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "common/core/clock.h"
#include "common/sqlite/db.h"
#include "controller/store/store.h"
#include "core/temp_dir.h"

namespace edge::controller {
// The store's embedded migrations (sqlite_store.cpp), for the upgrade tests.
std::span<const sqlite::Migration> Migrations();
}  // namespace edge::controller

namespace edge::controller::testing {

constexpr int64_t kT0 = 1'800'000'000;

struct Fixture {
  edge::testing::TempDir dir;
  std::string path = (dir / "controller.db").string();
  std::unique_ptr<Store> store;
  edge::FakeClock clock{kT0};

  explicit Fixture(SqliteStoreOptions options = {}) {
    auto s = OpenSqliteStore(path, options);
    REQUIRE(s);
    store = std::move(*s);
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
