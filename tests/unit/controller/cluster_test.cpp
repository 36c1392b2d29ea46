// Several controllers on one database (controller/api/cluster.h): the planner lease, which
// controller holds which agent's stream, the change feed and rollout revisions, on the store of
// each controller (two stores on one database, SQLite or, in the PostgreSQL run, one server);
// and the change-feed cursor that copes with entries committed out of seq order.
#include <catch2/catch.hpp>

#include "controller/api/cluster.h"
#include "store_fixture.h"

using namespace edge::controller;
using edge::ErrorCode;
using edge::controller::testing::Fixture;
using edge::controller::testing::kT0;

namespace {

StoreOptions Member(const std::string& id) {
  StoreOptions o;
  o.cluster_id = id;
  return o;
}

ControllerRecord Self(const std::string& id) { return {id, "host-" + id, "0.0.0.0:7443", "127.0.0.1:7445", kT0, 0, 0, false}; }

AgentReport Hello(const std::string& device, uint64_t stream, int64_t now) {
  AgentReport r;
  r.device_id = device;
  r.now = now;
  r.agent_version = "1.0";
  r.stream = stream;
  return r;
}

AgentReport Ended(const std::string& device, uint64_t stream, int64_t now) {
  AgentReport r;
  r.device_id = device;
  r.now = now;
  r.stream = stream;
  r.disconnected = true;
  return r;
}

void Record(Store& store, std::vector<AgentReport> reports) {
  auto out = store.RecordReports(reports);
  REQUIRE(out);
  for (const auto& o : *out) REQUIRE(o.status);
}

std::vector<std::string> Kinds(const std::vector<FleetChange>& changes) {
  std::vector<std::string> out;
  for (const auto& c : changes) out.push_back(c.kind + ":" + c.subject + "@" + c.origin);
  return out;
}

FleetChange Entry(int64_t seq) { return {seq, "desired", "gw-" + std::to_string(seq), "other", kT0}; }

std::vector<int64_t> Seqs(const std::vector<FleetChange>& changes) {
  std::vector<int64_t> out;
  for (const auto& c : changes) out.push_back(c.seq);
  return out;
}

}  // namespace

TEST_CASE("Cluster: one controller holds the planner lease and renews it and another takes it once it expires",
          "[store][cluster]") {
  EDGE_STORE_FIXTURE(f, Member("a"));
  auto b = f.Open(Member("b"));
  const ClusterTimes times;  // lease 10 s
  auto lease = f.store->Heartbeat(Self("a"), times, kT0);
  REQUIRE(lease);
  CHECK(lease->holder == "a");
  CHECK(lease->epoch == 1);
  lease = b->Heartbeat(Self("b"), times, kT0 + 1);
  REQUIRE(lease);
  CHECK(lease->holder == "a");  // held: b waits
  // a renews: its lease runs on, same epoch.
  lease = f.store->Heartbeat(Self("a"), times, kT0 + 8);
  REQUIRE(lease);
  CHECK(lease->holder == "a");
  CHECK(lease->expires_at == kT0 + 18);
  CHECK(lease->epoch == 1);
  lease = b->Heartbeat(Self("b"), times, kT0 + 17);
  CHECK(lease->holder == "a");
  // a stops renewing (it died): once the lease expires, b takes it over.
  lease = b->Heartbeat(Self("b"), times, kT0 + 18);
  REQUIRE(lease);
  CHECK(lease->holder == "b");
  CHECK(lease->epoch == 2);
  // a comes back and finds it gone.
  lease = f.store->Heartbeat(Self("a"), times, kT0 + 19);
  CHECK(lease->holder == "b");
  auto listed = f.store->ListControllers();
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  for (const auto& c : *listed) CHECK(c.planner == (c.id == "b"));
  // b leaves cleanly: the lease is free at once.
  REQUIRE(b->LeaveCluster("b"));
  lease = f.store->Heartbeat(Self("a"), times, kT0 + 20);
  CHECK(lease->holder == "a");
  CHECK(lease->epoch == 3);
  CHECK(f.store->ListControllers()->size() == 1);
}

TEST_CASE("Cluster: a session row follows the device's newest stream and a silent controller's devices are offline",
          "[store][cluster]") {
  EDGE_STORE_FIXTURE(f, Member("a"));
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Enroll("gw-2", "plant-1");
  auto b = f.Open(Member("b"));
  const ClusterTimes times;  // stale after 15 s
  REQUIRE(f.store->Heartbeat(Self("a"), times, kT0));
  REQUIRE(b->Heartbeat(Self("b"), times, kT0));
  auto elsewhere = [&](Store& s, const std::string& self, int64_t now) {
    auto online = s.OnlineElsewhere(self, times, now);
    REQUIRE(online);
    return *online;
  };
  Record(*f.store, {Hello("gw-1", 1, kT0), Hello("gw-2", 2, kT0)});
  CHECK(elsewhere(*b, "b", kT0) == std::vector<std::string>{"gw-1", "gw-2"});
  CHECK(elsewhere(*f.store, "a", kT0).empty());  // its own are in its memory
  // gw-1 moves to b; its old stream on a ends after: the row stays b's.
  Record(*b, {Hello("gw-1", 7, kT0 + 1)});
  Record(*f.store, {Ended("gw-1", 1, kT0 + 1)});
  CHECK(elsewhere(*f.store, "a", kT0 + 1) == std::vector<std::string>{"gw-1"});
  // A stream that ends in the same batch as its hello leaves no row.
  Record(*b, {Hello("gw-1", 8, kT0 + 2), Ended("gw-1", 8, kT0 + 2)});
  CHECK(elsewhere(*f.store, "a", kT0 + 2).empty());
  CHECK(f.QueryInt("SELECT count(*) FROM sessions WHERE device_id = 'gw-1'") == 0);
  // a stalls (no heartbeat): after 15 s its gw-2 counts as offline for b...
  CHECK(elsewhere(*b, "b", kT0 + 15) == std::vector<std::string>{"gw-2"});
  CHECK(elsewhere(*b, "b", kT0 + 16).empty());
  REQUIRE(b->Heartbeat(Self("b"), times, kT0 + 16));  // b took the expired lease
  // ...and online again when a heartbeats again (its stream never ended).
  REQUIRE(f.store->Heartbeat(Self("a"), times, kT0 + 20));
  CHECK(elsewhere(*b, "b", kT0 + 20) == std::vector<std::string>{"gw-2"});
  // Silent for an hour: the lease holder's housekeeping forgets a and the sessions it held.
  REQUIRE(b->Heartbeat(Self("b"), times, kT0 + 20 + times.forget_seconds + 1));
  CHECK(f.QueryInt("SELECT count(*) FROM sessions") == 0);
  CHECK(f.QueryInt("SELECT count(*) FROM controllers") == 1);
}

TEST_CASE("Cluster: the change feed holds what other controllers' agents must hear of and by whom",
          "[store][cluster]") {
  EDGE_STORE_FIXTURE(f, Member("a"));
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Enroll("gw-2", "plant-1");
  f.Version("1.0", 1);
  auto b = f.Open(Member("b"));
  auto last = b->LastChange();
  REQUIRE(last);
  CHECK(*last == 0);
  // A rollout made on a, dispatched by a's planner.
  CHECK(f.Desire({"gw-1", "gw-2"}, "1.0").size() == 2);
  REQUIRE(b->AddTrustPolicy({7, "envelope v7", "op/admin", kT0}));
  REQUIRE(b->RevokeDevice("gw-2", "op/admin", "stolen", kT0));
  auto changes = b->ChangesSince(*last, 100);
  REQUIRE(changes);
  CHECK(Kinds(*changes) == std::vector<std::string>{"rollout:1@a", "desired:gw-1@a", "desired:gw-2@a", "trust:7@b",
                                                     "revoked:gw-2@b"});
  CHECK(*b->LastChange() == changes->back().seq);
  CHECK(b->ChangesSince(changes->at(2).seq, 100)->size() == 2);
  // A controller alone on its database (no cluster id) writes no feed and no sessions.
  auto alone = f.Open();
  REQUIRE(alone->DecommissionDevice("gw-1", "op/admin", "", kT0));
  Record(*alone, {Hello("gw-2", 3, kT0)});
  CHECK(*b->LastChange() == changes->back().seq);
  CHECK(f.QueryInt("SELECT count(*) FROM sessions") == 0);
}

TEST_CASE("Cluster: a rollout step planned from an old revision is refused and writes nothing", "[store][cluster]") {
  EDGE_STORE_FIXTURE(f, Member("a"));
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Version("1.0", 1);
  auto b = f.Open(Member("b"));
  auto r = f.SiteRollout("plant-1", "1.0", "op/admin", kT0);
  CHECK(r.revision == 0);
  // Both controllers planned from revision 0; a saves first.
  rollout::Step paused;
  paused.rollout = r;
  paused.rollout.state = rollout::State::kPaused;
  paused.changed = true;
  REQUIRE(f.store->SaveRolloutStep(paused, "op/admin", "rollout.pause", kT0 + 1));
  rollout::Step dispatch;
  dispatch.rollout = r;
  dispatch.changed = true;
  dispatch.dispatches.push_back({"gw-1", "1.0", false});
  auto saved = b->SaveRolloutStep(dispatch, "", "", kT0 + 1);
  REQUIRE_FALSE(saved);
  CHECK(saved.error().code == ErrorCode::kFailedPrecondition);
  CHECK_THAT(saved.error().message, Catch::Contains("changed since it was read"));
  // The pause stands, and gw-1 was not dispatched.
  auto now = b->GetRollout(r.id);
  REQUIRE(now);
  CHECK(now->state == rollout::State::kPaused);
  CHECK(now->revision == 1);
  CHECK(b->DesiredModels("gw-1")->empty());
  // Planned again from what is stored, it goes through.
  dispatch.rollout = *now;
  REQUIRE(b->SaveRolloutStep(dispatch, "", "", kT0 + 2));
  CHECK(b->GetRollout(r.id)->revision == 2);
}

TEST_CASE("Cluster: the change cursor hands each entry over once with late commits included", "[cluster]") {
  using std::chrono::seconds;
  const auto t0 = ChangeCursor::Clock::time_point{} + seconds(1000);
  ChangeCursor cursor(10, seconds(30));
  // 13 is not visible yet (its transaction commits after 14's).
  CHECK(Seqs(cursor.Take({Entry(11), Entry(12), Entry(14)}, t0)) == std::vector<int64_t>{11, 12, 14});
  CHECK(cursor.high() == 14);
  REQUIRE(cursor.below_gaps());
  CHECK(*cursor.below_gaps() == 12);
  // Read again from below the gap: 13 comes now, 14 is not handed over twice.
  CHECK(Seqs(cursor.Take({Entry(13), Entry(14), Entry(15)}, t0 + seconds(1))) == std::vector<int64_t>{13, 15});
  CHECK_FALSE(cursor.below_gaps());
  CHECK(cursor.Take({Entry(13), Entry(15)}, t0 + seconds(2)).empty());
  // A seq that never shows up (a rolled-back transaction's) is given up after the hold.
  CHECK(Seqs(cursor.Take({Entry(17)}, t0 + seconds(3))) == std::vector<int64_t>{17});
  CHECK(cursor.gaps() == 1);
  CHECK(cursor.Take({}, t0 + seconds(32)).empty());
  CHECK(cursor.gaps() == 1);
  CHECK(cursor.Take({}, t0 + seconds(33)).empty());
  CHECK(cursor.gaps() == 0);
  // Out of order within one read.
  CHECK(Seqs(cursor.Take({Entry(19), Entry(18)}, t0 + seconds(34))) == std::vector<int64_t>{18, 19});
}
