// Health reports and update events in the store: bounded history, exactly-once events,
// ordering, deployment outcome counts, and (SQLite) the upgrades from schemas 1 and 4.
#include <catch2/catch.hpp>

#include "common/sqlite/db.h"
#include "controller/store/health_json.h"
#include "controller/store/store.h"
#include "core/temp_dir.h"
#include "store_fixture.h"

using namespace edge::controller;
using edge::ErrorCode;
using edge::controller::testing::Fixture;
using edge::controller::testing::kT0;

namespace {

HealthRecord Health(int64_t t, uint64_t inferences) {
  HealthRecord h;
  h.unix_time = t;
  h.received_at = t + 1;
  h.cpu_percent = 12.5;
  h.rss_bytes = 40 << 20;
  h.disk_free_bytes = 8ULL << 30;
  h.uptime_seconds = 3600;
  ModelHealthRecord m;
  m.model = "detector";
  m.version = "1.0";
  m.state = "committed";
  m.inferences = inferences;
  m.errors = 1;
  m.latency_bucket_upper_us = {100, 1000};
  m.latency_counts = {inferences - 2, 1, 1};
  m.p50_us = 80;
  m.p99_us = 950.5;
  m.last_selftest = "passed 3 cases, max error 0.0";
  m.last_selftest_at = t - 60;
  h.models.push_back(m);
  return h;
}

UpdateEventRecord Event(uint64_t seq, const std::string& version, const std::string& outcome) {
  return {seq, "detector", version, outcome, outcome == "committed" ? "" : "p99 over budget", kT0 + 100, false, 0};
}

std::vector<uint64_t> Seqs(const std::vector<UpdateEventRecord>& events) {
  std::vector<uint64_t> out;
  for (const auto& e : events) out.push_back(e.seq);
  return out;
}

}  // namespace

TEST_CASE("Health JSON round-trips every field, and a sample drops histogram and self-test", "[health][json]") {
  const auto h = Health(kT0, 500);
  auto back = HealthFromJson(HealthToJson(h));
  REQUIRE(back);
  CHECK(back->unix_time == h.unix_time);
  CHECK(back->received_at == h.received_at);
  CHECK(back->cpu_percent == 12.5);
  CHECK(back->disk_free_bytes == 8ULL << 30);
  REQUIRE(back->models.size() == 1);
  const auto& m = back->models[0];
  CHECK(m.latency_counts == std::vector<uint64_t>{498, 1, 1});
  CHECK(m.p99_us == 950.5);
  CHECK(m.last_selftest == "passed 3 cases, max error 0.0");
  const auto sample = HistorySample(h);
  CHECK(sample.models[0].latency_bucket_upper_us.empty());
  CHECK(sample.models[0].last_selftest.empty());
  CHECK(sample.models[0].inferences == 500);
  CHECK_FALSE(HealthFromJson("[1,2]"));
  CHECK(HealthFromJson(R"({"cpu_percent": "high"})").error().code == ErrorCode::kDataLoss);
}

TEST_CASE("Store: health history is bounded per device, newest first, latest kept in full", "[store][health]") {
  StoreOptions options;
  options.health_history_limit = 3;
  EDGE_STORE_FIXTURE(f, options);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  f.Enroll("edge-02", "factory-1");
  CHECK_FALSE(f.store->LatestHealth("edge-01").value());
  CHECK(f.store->HealthHistory("edge-01", 20).value().empty());

  REQUIRE(f.store->RecordHealth("edge-02", Health(kT0, 10)));
  for (int i = 1; i <= 5; ++i) REQUIRE(f.store->RecordHealth("edge-01", Health(kT0 + i * 10, 100 * i)));

  auto history = f.store->HealthHistory("edge-01", 20);
  REQUIRE(history);
  REQUIRE(history->size() == 3);
  CHECK((*history)[0].unix_time == kT0 + 50);
  CHECK((*history)[1].unix_time == kT0 + 40);
  CHECK((*history)[2].unix_time == kT0 + 30);
  CHECK((*history)[0].models[0].inferences == 500);
  CHECK((*history)[0].models[0].latency_counts.empty());
  CHECK(f.store->HealthHistory("edge-01", 2).value().size() == 2);

  auto latest = f.store->LatestHealth("edge-01");
  REQUIRE(latest);
  REQUIRE(*latest);
  CHECK((*latest)->unix_time == kT0 + 50);
  CHECK((*latest)->models[0].latency_counts == std::vector<uint64_t>{498, 1, 1});
  CHECK((*latest)->models[0].last_selftest_at == kT0 - 10);

  // Another device's pruning leaves this one alone.
  CHECK(f.store->HealthHistory("edge-02", 20).value().size() == 1);

  CHECK(f.QueryInt("SELECT count(*) FROM device_health_history") == 4);
}

TEST_CASE("Store: health for an unknown device is refused", "[store][health]") {
  EDGE_STORE_FIXTURE(f);
  CHECK_FALSE(f.store->RecordHealth("ghost", Health(kT0, 10)));
  CHECK_FALSE(f.store->LatestHealth("ghost").value());
}

TEST_CASE("Store: a re-sent event is stored once and the first copy wins", "[store][events]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  f.Enroll("edge-02", "factory-1");

  auto first = f.store->RecordEvents("edge-01", {Event(1, "1.0", "committed"), Event(2, "2.0", "rolled_back")}, kT0);
  REQUIRE(first);
  CHECK(first->inserted == 2);
  CHECK(first->duplicates == 0);
  CHECK(first->max_seq == 2);

  auto changed = Event(2, "2.0", "committed");
  auto again = f.store->RecordEvents("edge-01", {Event(1, "1.0", "committed"), changed}, kT0 + 5);
  REQUIRE(again);
  CHECK(again->inserted == 0);
  CHECK(again->duplicates == 2);
  CHECK(again->max_seq == 2);

  auto events = f.store->ListEvents("edge-01", 50);
  REQUIRE(events);
  REQUIRE(events->size() == 2);
  CHECK((*events)[0].seq == 2);
  CHECK((*events)[0].outcome == "rolled_back");
  CHECK((*events)[0].reason == "p99 over budget");
  CHECK((*events)[0].received_at == kT0);
  CHECK((*events)[1].outcome == "committed");

  // Sequence numbers are per device.
  auto other = f.store->RecordEvents("edge-02", {Event(1, "1.0", "failed")}, kT0);
  REQUIRE(other);
  CHECK(other->inserted == 1);
  CHECK(other->max_seq == 1);
  CHECK(f.store->ListEvents("edge-01", 50).value().size() == 2);
}

TEST_CASE("Store: events are listed by seq whatever the arrival order, bounded by limit", "[store][events]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  REQUIRE(f.store->RecordEvents("edge-01", {Event(3, "3.0", "committed")}, kT0));
  auto late = f.store->RecordEvents("edge-01", {Event(1, "1.0", "committed"), Event(2, "2.0", "failed")}, kT0 + 1);
  REQUIRE(late);
  CHECK(late->inserted == 2);
  CHECK(late->max_seq == 3);
  CHECK(Seqs(f.store->ListEvents("edge-01", 50).value()) == std::vector<uint64_t>{3, 2, 1});
  CHECK(Seqs(f.store->ListEvents("edge-01", 2).value()) == std::vector<uint64_t>{3, 2});
}

TEST_CASE("Store: a batch with a bad event stores nothing", "[store][events]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  auto zero = f.store->RecordEvents("edge-01", {Event(1, "1.0", "committed"), Event(0, "2.0", "committed")}, kT0);
  REQUIRE_FALSE(zero);
  CHECK(zero.error().code == ErrorCode::kInvalidArgument);
  CHECK_FALSE(f.store->RecordEvents("edge-01", {Event(5, "1.0", "exploded")}, kT0));
  CHECK(f.store->ListEvents("edge-01", 50).value().empty());
}

TEST_CASE("Store: the fleet a rollout sees carries when each version last failed on each device",
          "[store][events][rollout]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  f.Enroll("edge-02", "factory-1");
  f.Version("1.0", 1);
  REQUIRE(f.store->RecordEvents("edge-01", {Event(1, "1.0", "failed")}, kT0 + 1));
  REQUIRE(f.store->RecordEvents("edge-01", {Event(2, "1.0", "rolled_back"), Event(3, "2.0", "committed")}, kT0 + 5));
  REQUIRE(f.store->RecordEvents("edge-02", {Event(1, "1.0", "committed")}, kT0 + 2));
  auto fleet = f.store->FleetForModel("detector");
  REQUIRE(fleet);
  REQUIRE(fleet->size() == 2);
  CHECK((*fleet)[0].failed_at == std::map<std::string, int64_t>{{"1.0", kT0 + 5}});  // the latest; commits are not failures
  CHECK((*fleet)[1].failed_at.empty());
}

TEST_CASE("Store: a schema-1 database upgrades to health and events and keeps its rows", "[store][sqlite][migrations]") {
  edge::testing::TempDir dir;
  const auto path = (dir / "controller.db").string();
  {
    auto db = edge::sqlite::Db::Open(path);
    REQUIRE(db);
    REQUIRE(db->Migrate(Migrations().first(1)));
    REQUIRE(db->Exec("INSERT INTO sites(name, created_at) VALUES ('factory-1', 1)"));
    REQUIRE(db->Exec("INSERT INTO devices(id, site, cert_serial, cert_not_after, enrolled_at) "
                     "VALUES ('edge-01', 'factory-1', '01', 2, 1)"));
  }
  auto store = OpenSqliteStore(path);
  REQUIRE(store);
  CHECK((*store)->GetDevice("edge-01"));
  REQUIRE((*store)->RecordHealth("edge-01", Health(kT0, 10)));
  REQUIRE((*store)->RecordEvents("edge-01", {Event(1, "1.0", "committed")}, kT0));
  CHECK(edge::sqlite::Db::Open(path)->SchemaVersion().value() == static_cast<int>(Migrations().size()));
}

TEST_CASE("HealthStore: an abandoned update is stored, and the upgrade to it keeps every event", "[store][sqlite][health]") {
  edge::testing::TempDir dir;
  const auto path = (dir / "controller.db").string();
  {
    auto db = edge::sqlite::Db::Open(path);
    REQUIRE(db);
    REQUIRE(db->Migrate(Migrations().first(4)));
    REQUIRE(db->Exec("INSERT INTO sites(name, created_at) VALUES ('factory-1', 1)"));
    REQUIRE(db->Exec("INSERT INTO devices(id, site, cert_serial, cert_not_after, enrolled_at) "
                     "VALUES ('edge-01', 'factory-1', '01', 2, 1)"));
    REQUIRE(db->Exec("INSERT INTO device_events VALUES ('edge-01', 1, 'detector', '1.0', 'committed', '', 5, 0, 6), "
                     "('edge-01', 2, 'detector', '2.0', 'rolled_back', 'p99', 7, 1, 8)"));
    // Schema 4 refuses the new outcome: the reason for the rebuild.
    CHECK_FALSE(db->Exec("INSERT INTO device_events VALUES ('edge-01', 3, 'detector', '3.0', 'abandoned', '', 9, 0, 9)"));
  }
  auto store = OpenSqliteStore(path);
  REQUIRE(store);
  auto kept = (*store)->ListEvents("edge-01", 50);
  REQUIRE(kept);
  REQUIRE(kept->size() == 2);
  CHECK((*kept)[0].outcome == "rolled_back");
  CHECK((*kept)[0].offline_install);
  CHECK((*kept)[0].received_at == 8);
  auto added = (*store)->RecordEvents("edge-01", {Event(3, "3.0", "abandoned")}, kT0);
  REQUIRE(added);
  CHECK(added->inserted == 1);
  CHECK((*store)->ListEvents("edge-01", 50).value().front().outcome == "abandoned");
}
