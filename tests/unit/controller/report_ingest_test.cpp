// Group commit of agent reports: the store's RecordReports (one transaction, each report all or
// nothing) and ReportIngest, which gathers reports on the strand and writes them by size or time.
#include <mutex>

#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <thread>

#include "controller/api/report_ingest.h"
#include "controller/api/rollout_driver.h"
#include "controller/store/store.h"
#include "store_fixture.h"

using namespace edge::controller;
using edge::ErrorCode;
using edge::controller::testing::Fixture;
using edge::controller::testing::kT0;

namespace {

ReportedModelRecord Model(const std::string& name, const std::string& version) {
  ReportedModelRecord m;
  m.model = name;
  m.version = version;
  m.security_version = 2;
  m.state = "committed";
  m.security_floor = 2;
  return m;
}

HealthRecord Health(int64_t t) {
  HealthRecord h;
  h.unix_time = t;
  h.received_at = t;
  h.cpu_percent = 1.5;
  ModelHealthRecord m;
  m.model = "detector";
  m.version = "v2";
  m.state = "committed";
  m.inferences = 10;
  h.models.push_back(m);
  return h;
}

AgentReport Report(const std::string& device, int64_t now) {
  AgentReport r;
  r.device_id = device;
  r.now = now;
  r.models = {Model("detector", "v2")};
  r.health = Health(now);
  return r;
}

}  // namespace

TEST_CASE("Store: a batch of reports is stored as the single calls store them", "[store][ingest]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Enroll("gw-2", "plant-1");
  auto hello = Report("gw-1", kT0 + 10);
  hello.agent_version = "agent 1.4";
  hello.health.reset();
  auto status = Report("gw-2", kT0 + 11);
  status.events = {{1, "detector", "v2", "committed", "", kT0 + 5, false, 0},
                   {2, "detector", "v3", "rolled_back", "p99 over budget", kT0 + 6, false, 0}};
  auto outcomes = f.store->RecordReports({hello, status});
  REQUIRE(outcomes);
  REQUIRE(outcomes->size() == 2);
  CHECK((*outcomes)[0].status);
  CHECK_FALSE((*outcomes)[0].events);
  CHECK((*outcomes)[1].status);
  REQUIRE((*outcomes)[1].events);
  CHECK((*outcomes)[1].events->inserted == 2);
  CHECK((*outcomes)[1].events->max_seq == 2);

  auto gw1 = f.store->GetDevice("gw-1");
  REQUIRE(gw1);
  CHECK(gw1->agent_version == "agent 1.4");
  CHECK(gw1->last_seen == kT0 + 10);
  auto models = f.store->DeviceModels("gw-2");
  REQUIRE(models);
  REQUIRE(models->size() == 1);
  REQUIRE(models->at(0).reported);
  CHECK(models->at(0).reported->version == "v2");
  auto health = f.store->LatestHealth("gw-2");
  REQUIRE(health);
  REQUIRE(*health);
  CHECK((*health)->received_at == kT0 + 11);
  CHECK(f.store->HealthHistory("gw-2", 10)->size() == 1);
  CHECK_FALSE(*f.store->LatestHealth("gw-1"));
  CHECK(f.store->ListEvents("gw-2", 10)->size() == 2);
  // The same events again are duplicates, acknowledged up to the same seq.
  outcomes = f.store->RecordReports({status});
  REQUIRE(outcomes);
  REQUIRE((*outcomes)[0].events);
  CHECK((*outcomes)[0].events->inserted == 0);
  CHECK((*outcomes)[0].events->duplicates == 2);
  CHECK((*outcomes)[0].events->max_seq == 2);
}

TEST_CASE("Store: a refused report in a batch is undone alone", "[store][ingest]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Enroll("gw-2", "plant-1");
  f.Enroll("gw-3", "plant-1");
  auto too_many = Report("gw-2", kT0 + 1);
  too_many.models.clear();
  for (size_t i = 0; i <= kMaxReportedModelsPerDevice; ++i) too_many.models.push_back(Model("m" + std::to_string(i), "v1"));
  too_many.events = {{1, "detector", "v2", "committed", "", kT0, false, 0}};
  auto bad_event = Report("gw-3", kT0 + 1);
  bad_event.events = {{0, "detector", "v2", "committed", "", kT0, false, 0}};
  auto outcomes = f.store->RecordReports({Report("gw-1", kT0 + 1), too_many, bad_event, Report("gw-1", kT0 + 2)});
  REQUIRE(outcomes);
  REQUIRE(outcomes->size() == 4);
  CHECK((*outcomes)[0].status);
  REQUIRE_FALSE((*outcomes)[1].status);
  CHECK((*outcomes)[1].status.error().code == ErrorCode::kResourceExhausted);
  REQUIRE_FALSE((*outcomes)[2].status);
  CHECK((*outcomes)[2].status.error().code == ErrorCode::kInvalidArgument);
  CHECK((*outcomes)[3].status);
  // Nothing of the refused reports: no models, no health, no events, last_seen untouched.
  CHECK(f.store->DeviceModels("gw-2")->empty());
  CHECK_FALSE(*f.store->LatestHealth("gw-2"));
  CHECK(f.store->ListEvents("gw-2", 10)->empty());
  CHECK(f.store->GetDevice("gw-2")->last_seen == 0);
  CHECK_FALSE(*f.store->LatestHealth("gw-3"));
  // Both of gw-1's reports, in order.
  CHECK(f.store->HealthHistory("gw-1", 10)->size() == 2);
  CHECK(f.store->GetDevice("gw-1")->last_seen == kT0 + 2);
}

TEST_CASE("Store: a report for an unknown device fails alone", "[store][ingest]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  auto outcomes = f.store->RecordReports({Report("ghost", kT0), Report("gw-1", kT0)});
  REQUIRE(outcomes);
  CHECK_FALSE((*outcomes)[0].status);
  CHECK((*outcomes)[1].status);
  CHECK(*f.store->LatestHealth("gw-1"));
}

TEST_CASE("Store: a report a statement refuses is undone alone, the rest of its batch stored", "[store][ingest]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  for (const auto* id : {"gw-1", "gw-2", "gw-3"}) f.Enroll(id, "plant-1");
  // Nothing the store checks before it writes: the event's outcome is refused by the table's
  // constraint, the ghost by the foreign keys. The batch's statements fail, and it is stored
  // again report by report.
  auto bad_outcome = Report("gw-2", kT0 + 1);
  bad_outcome.events = {{1, "detector", "v2", "exploded", "", kT0, false, 0}};
  auto hello = Report("gw-3", kT0 + 1);
  hello.agent_version = "agent 2.0";
  auto outcomes = f.store->RecordReports({Report("gw-1", kT0 + 1), bad_outcome, hello, Report("ghost", kT0 + 1)});
  REQUIRE(outcomes);
  REQUIRE(outcomes->size() == 4);
  CHECK((*outcomes)[0].status);
  CHECK_FALSE((*outcomes)[1].status);
  CHECK((*outcomes)[2].status);
  CHECK_FALSE((*outcomes)[3].status);
  // The stored ones once each, though the batch was written twice.
  CHECK(f.store->HealthHistory("gw-1", 10)->size() == 1);
  CHECK(f.store->HealthHistory("gw-3", 10)->size() == 1);
  CHECK(f.store->GetDevice("gw-3")->agent_version == "agent 2.0");
  CHECK(f.store->GetDevice("gw-3")->last_seen == kT0 + 1);
  CHECK_FALSE(*f.store->LatestHealth("gw-2"));
  CHECK(f.store->DeviceModels("gw-2")->empty());
  CHECK(f.store->ListEvents("gw-2", 10)->empty());
  CHECK(f.store->GetDevice("gw-2")->last_seen == 0);
}

namespace {

// What the store holds of a device, for comparing two devices that got the same reports.
std::string Stored(Store& store, const std::string& id) {
  std::string out;
  auto d = store.GetDevice(id);
  REQUIRE(d);
  out += "seen=" + std::to_string(d->last_seen) + " agent=" + d->agent_version + "\n";
  auto models = store.DeviceModels(id);
  REQUIRE(models);
  for (const auto& m : *models) {
    REQUIRE(m.reported);
    out += "model " + m.model + "=" + m.reported->version + "@" + std::to_string(m.reported->updated_at) + "\n";
  }
  if (auto h = *store.LatestHealth(id)) out += "latest " + std::to_string(h->received_at) + "\n";
  auto samples = store.HealthHistory(id, 100);
  REQUIRE(samples);
  for (const auto& h : *samples) out += "sample " + std::to_string(h.received_at) + "\n";
  auto events = store.ListEvents(id, 100);
  REQUIRE(events);
  for (const auto& e : *events) out += "event " + std::to_string(e.seq) + " " + e.version + "\n";
  return out;
}

std::string Recorded(const AgentReportOutcome& o) {
  if (!o.status) return "refused";
  if (!o.events) return "ok";
  return "ok " + std::to_string(o.events->inserted) + "/" + std::to_string(o.events->duplicates) + " up to " +
         std::to_string(o.events->max_seq);
}

}  // namespace

TEST_CASE("Store: a batch stores what its reports one at a time store, a device's several reports included",
          "[store][ingest]") {
  EDGE_STORE_FIXTURE(f, StoreOptions{3, 4, 100000, ""});
  f.Site("plant-1");
  // A second report with events of one device makes the batch go report by report (counts
  // and pruning are per report); without it the batch is written as one group.
  const bool second_events = GENERATE(false, true);
  // One device gets the reports in one batch, its twin the same reports one batch each.
  auto reports = [&](const std::string& id) {
    std::vector<AgentReport> out;
    auto hello = Report(id, kT0 + 1);
    hello.agent_version = "agent 1.0";
    hello.health.reset();
    out.push_back(hello);
    auto status = Report(id, kT0 + 2);
    status.models.push_back(Model("classifier", "v1"));
    status.events = {{1, "detector", "v1", "committed", "", kT0, false, 0},
                     {2, "detector", "v2", "committed", "", kT0, false, 0},
                     {2, "detector", "v9", "committed", "", kT0, false, 0},  // a second copy: the first wins
                     {3, "detector", "v3", "failed", "crash", kT0, false, 0},
                     {4, "detector", "v3", "committed", "", kT0, false, 0},
                     {5, "detector", "v3", "committed", "", kT0, false, 0},
                     {6, "detector", "v3", "committed", "", kT0, false, 0}};  // past the bound of 4
    out.push_back(status);
    auto again = Report(id, kT0 + 3);
    again.agent_version = "agent 1.1";
    again.models = {Model("classifier", "v2")};
    if (second_events)
      again.events = {{6, "detector", "v3", "committed", "", kT0, false, 0}, {7, "detector", "v4", "committed", "", kT0, false, 0}};
    out.push_back(again);
    for (int64_t t = 4; t <= 7; ++t) out.push_back(Report(id, kT0 + t));  // past the history's bound of 3
    auto too_many = Report(id, kT0 + 8);
    for (size_t i = 0; i < kMaxReportedModelsPerDevice; ++i) too_many.models.push_back(Model("m" + std::to_string(i), "v1"));
    out.push_back(too_many);
    return out;
  };
  for (const auto* id : {"gw-batch", "gw-single"}) f.Enroll(id, "plant-1");
  auto batch = reports("gw-batch");
  // Another device's report among them, as a batch mixes devices.
  batch.insert(batch.begin() + 2, Report("gw-single", kT0));
  auto together = f.store->RecordReports(batch);
  REQUIRE(together);
  together->erase(together->begin() + 2);
  std::vector<std::string> batched, single;
  for (const auto& o : *together) batched.push_back(Recorded(o));
  for (const auto& r : reports("gw-single")) {
    auto one = f.store->RecordReports({r});
    REQUIRE(one);
    single.push_back(Recorded(one->front()));
  }
  CHECK(batched == single);
  CHECK(batched[1] == "ok 6/1 up to 6");
  CHECK(batched[2] == (second_events ? "ok 1/1 up to 7" : "ok"));
  CHECK(batched.back() == "refused");
  auto stored = Stored(*f.store, "gw-batch");
  CHECK(stored == Stored(*f.store, "gw-single"));
  CHECK(stored == "seen=1800000007 agent=agent 1.1\nmodel classifier=v2@1800000003\nmodel detector=v2@1800000007\n"
                  "latest 1800000007\nsample 1800000007\nsample 1800000006\nsample 1800000005\n" +
                      std::string(second_events ? "event 7 v4\n" : "") + "event 6 v3\nevent 5 v3\nevent 4 v3\n" +
                      std::string(second_events ? "" : "event 3 v3\n"));
}

TEST_CASE("Store: a batch that conflicts with another writer runs again whole, each report stored once",
          "[store][postgres][ingest][concurrency]") {
  EDGE_ONLY_ON_POSTGRES();
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Enroll("gw-2", "plant-1");
  // Another controller's transaction holds gw-1's device row and commits while the batch waits
  // for it: under SERIALIZABLE the batch's update of that row fails (40001) and the whole
  // batch runs again, never gw-1's report alone refused.
  auto other = f.Connect();
  REQUIRE(other->Exec("BEGIN"));
  REQUIRE(other->Exec("UPDATE devices SET facts_json = '{\"os\":\"other\"}' WHERE id = 'gw-1'"));
  edge::Result<std::vector<AgentReportOutcome>> outcomes;
  std::thread batch([&] { outcomes = f.store->RecordReports({Report("gw-1", kT0 + 1), Report("gw-2", kT0 + 1)}); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  REQUIRE(other->Exec("COMMIT"));
  batch.join();
  REQUIRE(outcomes);
  for (const auto& o : *outcomes) CHECK(o.status);
  auto gw1 = f.store->GetDevice("gw-1");
  CHECK(gw1->facts_json == "{\"os\":\"other\"}");
  CHECK(gw1->last_seen == kT0 + 1);
  CHECK(f.store->HealthHistory("gw-1", 10)->size() == 1);
  CHECK(f.store->HealthHistory("gw-2", 10)->size() == 1);
}

TEST_CASE("ReportIngest: full batches are written next on the strand and the rest when the delay ends", "[ingest]") {
  Fixture f;
  f.Site("plant-1");
  for (int i = 0; i < 5; ++i) f.Enroll("gw-" + std::to_string(i), "plant-1");
  boost::asio::io_context io;
  auto strand = boost::asio::make_strand(io);
  ReportIngest ingest(strand, f.store, {2, std::chrono::milliseconds(30)});
  std::vector<std::string> done;
  boost::asio::post(strand, [&] {
    for (int i = 0; i < 5; ++i) {
      const auto id = "gw-" + std::to_string(i);
      ingest.Add(Report(id, kT0 + i), [&done, id](const AgentReportOutcome& o) {
        CHECK(o.status);
        done.push_back(id);
      });
    }
    // Nothing is written inside Add: a full batch is flushed by a handler posted to the strand.
    CHECK(done.empty());
    CHECK(ingest.pending() == 5);
  });
  io.run();  // returns once the posted flush ran (two full batches and the rest)
  CHECK(done == std::vector<std::string>{"gw-0", "gw-1", "gw-2", "gw-3", "gw-4"});
  CHECK(ingest.batches() == 3);
  CHECK(ingest.reports() == 5);
  CHECK(ingest.pending() == 0);
  for (int i = 0; i < 5; ++i) CHECK(*f.store->LatestHealth("gw-" + std::to_string(i)));
}

TEST_CASE("ReportIngest: a backlog is written one batch per strand handler, each after the hook", "[ingest]") {
  Fixture f;
  f.Site("plant-1");
  for (int i = 0; i < 6; ++i) f.Enroll("gw-" + std::to_string(i), "plant-1");
  boost::asio::io_context io;
  auto strand = boost::asio::make_strand(io);
  std::vector<std::string> order;
  ReportIngest ingest(strand, f.store, {2, std::chrono::milliseconds(30)}, [&order] { order.push_back("hook"); });
  boost::asio::post(strand, [&] {
    for (int i = 0; i < 6; ++i) {
      const auto id = "gw-" + std::to_string(i);
      ingest.Add(Report(id, kT0 + i), [&order, id](const AgentReportOutcome& o) {
        CHECK(o.status);
        order.push_back(id);
      });
    }
    // Other strand work posted meanwhile (an operator's call) runs between two batches.
    boost::asio::post(strand, [&order] { order.push_back("operator"); });
  });
  io.run();
  CHECK(order == std::vector<std::string>{"hook", "gw-0", "gw-1", "operator", "hook", "gw-2", "gw-3", "hook", "gw-4", "gw-5"});
  CHECK(ingest.batches() == 3);
}

// A stream hands its report over holding its own lock, which the report's continuation takes:
// the continuation of the report that fills a batch ran inside Add and deadlocked the
// controller (seen with 10,000 agents reporting every 5 s).
TEST_CASE("ReportIngest: the report that fills a batch does not run its continuation inside Add", "[ingest]") {
  Fixture f;
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  boost::asio::io_context io;
  auto strand = boost::asio::make_strand(io);
  ReportIngest ingest(strand, f.store, {1, std::chrono::milliseconds(30)});
  std::mutex stream_lock;
  bool ran = false;
  boost::asio::post(strand, [&] {
    std::lock_guard held(stream_lock);
    ingest.Add(Report("gw-1", kT0), [&](const AgentReportOutcome& o) {
      CHECK(o.status);
      CHECK(stream_lock.try_lock());  // not held: Add has returned
      stream_lock.unlock();
      ran = true;
    });
  });
  io.run();
  CHECK(ran);
  CHECK(ingest.batches() == 1);
}

TEST_CASE("ReportIngest: each report's outcome reaches its own continuation", "[ingest]") {
  Fixture f;
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  boost::asio::io_context io;
  auto strand = boost::asio::make_strand(io);
  ReportIngest ingest(strand, f.store, {64, std::chrono::milliseconds(1)});
  std::optional<AgentReportOutcome> good, bad;
  boost::asio::post(strand, [&] {
    auto r = Report("gw-1", kT0);
    r.events = {{7, "detector", "v2", "committed", "", kT0, false, 0}};
    ingest.Add(std::move(r), [&](const AgentReportOutcome& o) { good = o; });
    ingest.Add(Report("ghost", kT0), [&](const AgentReportOutcome& o) { bad = o; });
  });
  io.run();
  REQUIRE(good);
  CHECK(good->status);
  REQUIRE(good->events);
  CHECK(good->events->max_seq == 7);
  REQUIRE(bad);
  CHECK_FALSE(bad->status);
}

TEST_CASE("RolloutDriver: report-driven ticks are spaced by the cost of the last one", "[ingest][rollout]") {
  using std::chrono::milliseconds;
  const milliseconds soon(100);
  // A cheap tick: the usual 100 ms.
  CHECK(SoonTickDelay(milliseconds(0), milliseconds(5), soon) == soon);
  // A 120 ms tick (a 10,000-device fleet) that just ended: wait 480 ms, so ticks take at most
  // a fifth of the strand.
  CHECK(SoonTickDelay(milliseconds(0), milliseconds(120), soon) == milliseconds(480));
  CHECK(SoonTickDelay(milliseconds(300), milliseconds(120), soon) == milliseconds(180));
  // Long ago: no extra wait.
  CHECK(SoonTickDelay(milliseconds(5000), milliseconds(120), soon) == soon);
}

TEST_CASE("Store: two controllers ingesting batches for the same devices store every report", "[store][ingest][concurrency]") {
  EDGE_STORE_FIXTURE(f, StoreOptions{1000, 1000, 100000, ""});
  f.Site("plant-1");
  constexpr int kDevices = 8;
  constexpr int kBatches = 10;
  for (int d = 0; d < kDevices; ++d) f.Enroll("gw-" + std::to_string(d), "plant-1");
  auto second = f.Open(StoreOptions{1000, 1000, 100000, ""});
  // Each store writes batches with one report per device: every batch of one overlaps every
  // batch of the other. A conflict must make the whole batch run again, never drop a report.
  auto ingest = [](Store& store, int64_t base, std::vector<AgentReportOutcome>& outcomes, std::vector<std::string>& errors) {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<AgentReport> batch;
      for (int d = 0; d < kDevices; ++d) batch.push_back(Report("gw-" + std::to_string(d), base + b));
      auto r = store.RecordReports(batch);
      if (!r) {
        errors.push_back(r.error().message);
        continue;
      }
      outcomes.insert(outcomes.end(), r->begin(), r->end());
    }
  };
  std::vector<AgentReportOutcome> a, b;
  std::vector<std::string> errors_a, errors_b;
  std::thread other([&] { ingest(*second, kT0 + 1000, b, errors_b); });
  ingest(*f.store, kT0, a, errors_a);
  other.join();
  CHECK(errors_a.empty());
  CHECK(errors_b.empty());
  REQUIRE(a.size() + b.size() == 2u * kBatches * kDevices);
  for (const auto* outcomes : {&a, &b})
    for (const auto& o : *outcomes) CHECK(o.status);
  for (int d = 0; d < kDevices; ++d) CHECK(f.store->HealthHistory("gw-" + std::to_string(d), 100)->size() == 2u * kBatches);
}
