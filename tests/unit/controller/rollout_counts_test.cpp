// Rollouts listed and ticked without their device rows: the row counts the store keeps beside
// each rollout (migration 009), what lists and the planner read instead of every row, and the
// planner's tick reading only the rollouts that can move.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <tuple>

#include "common/metrics/memory_registry.h"
#include "common/metrics/timer.h"
#include "common/sqlite/db.h"
#include "controller/api/context.h"
#include "controller/api/rollout_driver.h"
#include "controller/store/rollout_json.h"
#include "controller/store/timed_store.h"
#include "core/temp_dir.h"
#include "controller/rollout/planner.h"
#include "store_fixture.h"

using namespace edge::controller;
using edge::ErrorCode;
using edge::controller::testing::Fixture;
using edge::controller::testing::kT0;
using DS = rollout::DeviceState;

namespace {

// A controller context on the fixture's store (timed, so tests can count store calls) with its
// rollout driver.
struct Driven {
  edge::metrics::MemoryRegistry registry;
  edge::metrics::FakeMonotonicClock mono;
  boost::asio::io_context io;
  ControllerContext ctx;
  RolloutDriver driver;
  explicit Driven(Fixture& f)
      : ctx(ControllerConfig{}, io, std::make_unique<TimedStore>(std::move(f.store), registry, mono), f.clock),
        driver(ctx) {
    ctx.rollouts = &driver;
  }
  std::tuple<edge::metrics::MemoryRegistry&, ControllerContext&, RolloutDriver&> Parts() { return {registry, ctx, driver}; }
};

rollout::Observed Online(const std::string& id, const std::string& site) {
  rollout::Observed o;
  o.id = id;
  o.site = site;
  o.online = true;
  return o;
}

bool SameCounts(const std::vector<rollout::RowCount>& a, const std::vector<rollout::RowCount>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].wave != b[i].wave || a[i].state != b[i].state || a[i].devices != b[i].devices ||
        a[i].dispatched != b[i].dispatched)
      return false;
  return true;
}

rollout::Rollout SiteTarget(const std::string& version) {
  rollout::Rollout r;
  r.model = "detector";
  r.version = version;
  r.target.sites = {"plant-1"};
  r.strategy = rollout::AllAtOnce();
  r.created_by = "op/admin";
  return r;
}

}  // namespace

TEST_CASE("Rollouts: the rows counted by wave and state are saved with each step and listed without the rows",
          "[store][rollouts]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  for (const char* d : {"gw-1", "gw-2", "gw-3"}) f.Enroll(d, "plant-1");
  f.Version("1.0", 1);
  auto created = f.SiteRollout("plant-1", "1.0", "op/admin", kT0);
  created.strategy.canary = rollout::Amount::Count(1);
  created.strategy.waves = {rollout::Amount::Percent(100)};
  rollout::Inputs in;
  in.now = kT0 + 1;
  for (const char* d : {"gw-1", "gw-2", "gw-3"}) in.devices.push_back(Online(d, "plant-1"));
  auto step = rollout::Plan(created, in);
  REQUIRE(step.changed);
  REQUIRE(f.store->SaveRolloutStep(step, "", "", kT0 + 1));

  auto whole = f.store->GetRollout(created.id);
  REQUIRE(whole);
  CHECK(whole->rows_loaded);
  REQUIRE(whole->devices.size() == 3);
  // The canary took one device (dispatched), the other two wait in wave 1 or unassigned.
  const auto expected = rollout::CountRows(whole->devices);
  CHECK(whole->DeviceTotal() == 3);
  uint32_t dispatched = 0;
  for (const auto& c : expected) dispatched += c.dispatched;
  CHECK(dispatched == 1);

  for (auto listed : {f.store->ListRollouts(false, 10), f.store->LiveRollouts()}) {
    REQUIRE(listed);
    REQUIRE(listed->size() == 1);
    const auto& r = listed->front();
    CHECK_FALSE(r.rows_loaded);
    CHECK(r.devices.empty());
    CHECK(r.DeviceTotal() == 3);
    CHECK(SameCounts(r.counts, expected));
  }

  // A rollout read without its rows cannot be saved: its counts would be rewritten from nothing.
  rollout::Step partial;
  partial.rollout = f.store->ListRollouts(false, 10)->front();
  partial.rollout.state = rollout::State::kPaused;
  partial.changed = true;
  auto refused = f.store->SaveRolloutStep(partial, "", "", kT0 + 2);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code == ErrorCode::kInternal);
  CHECK(f.store->GetRollout(created.id)->state == rollout::State::kRunning);
  CHECK(f.store->GetRollout(created.id)->revision == whole->revision);
}

TEST_CASE("Rollouts: a schema-8 database's rollouts get their row counts from migration 9",
          "[store][sqlite][rollouts][migrations]") {
  edge::testing::TempDir dir;
  const auto path = (dir / "controller.db").string();
  {
    auto db = edge::sqlite::Db::Open(path);
    REQUIRE(db);
    REQUIRE(db->Migrate(Migrations().first(8)));
    auto ins = db->Prepare(
        "INSERT INTO rollouts(model, version, security_version, target_json, strategy_json, state, wave, waves_json, "
        "reason, created_by, created_at, updated_at) VALUES ('detector', '1.0', 1, ?, ?, 'completed', 0, ?, '', 'op', 1, 1)");
    REQUIRE(ins);
    rollout::Target target;
    target.sites = {"plant-1"};
    ins->Bind(1, TargetToJson(target)).Bind(2, StrategyToJson(rollout::AllAtOnce())).Bind(3, WavesToJson({{1, 2, "passed"}}));
    REQUIRE(ins->Run());
    REQUIRE(db->Exec(
        "INSERT INTO rollout_devices(rollout_id, device_id, site, state, wave, from_version, dispatched_at, done_at, "
        "dispatches, detail) VALUES (1, 'gw-1', 'plant-1', 'updated', 0, '', 1, 2, 1, ''), "
        "(1, 'gw-2', 'plant-1', 'updated', 0, '', 1, 2, 1, ''), (1, 'gw-3', 'plant-1', 'skipped', 0, '', 0, 1, 0, 'arm64');"));
  }
  auto store = OpenSqliteStore(path);
  REQUIRE(store);
  auto listed = (*store)->ListRollouts(true, 10);
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  CHECK(listed->front().DeviceTotal() == 3);
  CHECK(SameCounts(listed->front().counts, rollout::CountRows((*store)->GetRollout(1)->devices)));
  CHECK_FALSE(listed->front().Dormant());  // updated rows can still be superseded
}

TEST_CASE("Rollouts: a tick reads no rows of a rollout whose devices a newer one took, and it keeps its standing target",
          "[store][rollouts]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Enroll("gw-2", "plant-1");
  f.Version("1.0", 1);
  f.Version("2.0", 2);
  Driven d(f);
  auto [registry, ctx, driver] = d.Parts();
  auto rows_read = [&] {
    return registry.HistogramOf("edgefleet_controller_store_duration_seconds", {{"op", "get_rollout"}}).count;
  };
  auto run = [&](const std::string& version, uint64_t security_version) {
    for (const char* d : {"gw-1", "gw-2"})
      REQUIRE(ctx.store->RecordReport(d, {{"detector", version, security_version, "committed", version, "", 0, 0, 0, 0}},
                                      f.clock.NowUnix()));
  };

  auto first = driver.Create(SiteTarget("1.0"), false);
  REQUIRE(first);
  run("1.0", 1);
  REQUIRE(driver.Tick());
  REQUIRE(ctx.store->GetRollout(first->id)->state == rollout::State::kCompleted);
  auto second = driver.Create(SiteTarget("2.0"), false);
  REQUIRE(second);
  run("2.0", 2);
  REQUIRE(driver.Tick());
  REQUIRE(ctx.store->GetRollout(second->id)->state == rollout::State::kCompleted);
  auto older = ctx.store->GetRollout(first->id);
  for (const auto& row : older->devices) CHECK(row.state == DS::kSuperseded);
  auto live = ctx.store->LiveRollouts();
  REQUIRE(live->size() == 2);
  CHECK(live->front().Dormant());
  CHECK_FALSE(live->back().Dormant());

  // A tick now reads the rows of the newer rollout only.
  const auto before = rows_read();
  REQUIRE(driver.Tick());
  CHECK(rows_read() - before == 1);

  // With the newer one aborted, the older claims the devices again (they run 2.0: they stay
  // superseded) and a device that joins its standing target gets 1.0.
  REQUIRE(driver.Control(second->id, rollout::Control::kAbort, "wrong model", "op/admin"));
  TokenRecord token{"hash-gw-3", "plant-1", "op/admin", kT0, kT0 + 3600};
  REQUIRE(ctx.store->CreateToken(token, "op/admin"));
  DeviceRecord gw3;
  gw3.id = "gw-3";
  gw3.cert_serial = "serial-gw-3";
  gw3.cert_not_after = kT0 + 86400;
  REQUIRE(ctx.store->EnrollDevice("hash-gw-3", gw3, kT0));
  REQUIRE(driver.Tick());
  auto desired = ctx.store->DesiredModels("gw-3");
  REQUIRE(desired);
  REQUIRE(desired->size() == 1);
  CHECK(desired->front().version == "1.0");
  older = ctx.store->GetRollout(first->id);
  REQUIRE(older->devices.size() == 3);
  CHECK(older->devices[0].state == DS::kSuperseded);
  CHECK(older->devices[1].state == DS::kSuperseded);
  CHECK(older->devices[2].state == DS::kDispatched);
  CHECK(ctx.store->DesiredModels("gw-1")->front().version == "2.0");
}

TEST_CASE("Rollouts: a wave soaking without health gates reads no device's health", "[store][rollouts]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Version("1.0", 1);
  Driven d(f);
  auto [registry, ctx, driver] = d.Parts();
  auto health_reads = [&] {
    return registry.HistogramOf("edgefleet_controller_store_duration_seconds", {{"op", "latest_health"}}).count +
           registry.HistogramOf("edgefleet_controller_store_duration_seconds", {{"op", "health_history"}}).count;
  };
  auto r = SiteTarget("1.0");
  r.strategy.soak_seconds = 60;
  auto created = driver.Create(r, false);
  REQUIRE(created);
  REQUIRE(ctx.store->RecordReport("gw-1", {{"detector", "1.0", 1, "committed", "1.0", "", 0, 0, 0, 0}}, kT0));
  REQUIRE(driver.Tick());  // the wave is done; it soaks
  f.clock.Advance(30);
  REQUIRE(driver.Tick());
  CHECK(ctx.store->GetRollout(created->id)->state == rollout::State::kRunning);
  f.clock.Advance(31);
  REQUIRE(driver.Tick());
  CHECK(ctx.store->GetRollout(created->id)->state == rollout::State::kCompleted);
  CHECK(health_reads() == 0);
}

TEST_CASE("Rollouts: a wave judged on health reads a device's health again only once it has reported",
          "[store][rollouts]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Enroll("gw-2", "plant-1");
  f.Version("1.0", 1);
  Driven d(f);
  auto [registry, ctx, driver] = d.Parts();
  auto health_reads = [&] {
    return registry.HistogramOf("edgefleet_controller_store_duration_seconds", {{"op", "latest_health"}}).count;
  };
  auto report = [&](const char* device) {
    REQUIRE(ctx.store->RecordReport(device, {{"detector", "1.0", 1, "committed", "1.0", "", 0, 0, 0, 0}},
                                    f.clock.NowUnix()));
  };
  auto r = SiteTarget("1.0");
  r.strategy.health_gates = true;
  r.strategy.min_requests = 0;  // nothing to judge: passes at the soak's end
  r.strategy.soak_seconds = 60;
  auto created = driver.Create(r, false);
  REQUIRE(created);
  report("gw-1");
  report("gw-2");
  REQUIRE(driver.Tick());  // the wave is done
  REQUIRE(driver.Tick());  // judged: each device's health read once
  CHECK(health_reads() == 2);
  f.clock.Advance(10);
  REQUIRE(driver.Tick());  // nobody reported since
  CHECK(health_reads() == 2);
  report("gw-1");
  f.clock.Advance(10);
  REQUIRE(driver.Tick());
  CHECK(health_reads() == 3);  // gw-1 again, gw-2 from before
  report("gw-2");  // in the same second as the read: read again
  REQUIRE(driver.Tick());
  CHECK(health_reads() == 4);
  f.clock.Advance(41);
  REQUIRE(driver.Tick());
  CHECK(ctx.store->GetRollout(created->id)->state == rollout::State::kCompleted);
}

TEST_CASE("Rollouts: a failed self-test reported in the same second as a healthy report fails the wave",
          "[store][rollouts]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Version("1.0", 1);
  Driven d(f);
  auto [registry, ctx, driver] = d.Parts();
  auto report = [&](const std::string& selftest) {
    REQUIRE(ctx.store->RecordReport("gw-1", {{"detector", "1.0", 1, "committed", "1.0", "", 0, 0, 0, 0}},
                                    f.clock.NowUnix()));
    HealthRecord h;
    h.unix_time = h.received_at = f.clock.NowUnix();
    h.uptime_seconds = 100;
    ModelHealthRecord m;
    m.model = "detector";
    m.version = "1.0";
    m.state = "serving";
    m.last_selftest = selftest;
    m.last_selftest_at = f.clock.NowUnix();
    h.models.push_back(m);
    REQUIRE(ctx.store->RecordHealth("gw-1", h));
  };
  auto r = SiteTarget("1.0");
  r.strategy.health_gates = true;
  r.strategy.min_requests = 0;
  r.strategy.soak_seconds = 60;
  auto created = driver.Create(r, false);
  REQUIRE(created);
  report("passed");
  REQUIRE(driver.Tick());  // the wave is done
  REQUIRE(driver.Tick());  // judged on the healthy report: soaking
  CHECK(ctx.store->GetRollout(created->id)->state == rollout::State::kRunning);
  report("failed: outputs differ");  // the same second
  f.clock.Advance(10);
  REQUIRE(driver.Tick());
  const auto after = ctx.store->GetRollout(created->id);
  REQUIRE(after);
  CHECK(after->state != rollout::State::kRunning);
  CHECK_THAT(after->reason, Catch::Matchers::Contains("self-test"));
}
