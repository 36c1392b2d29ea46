// Several controllers on one database (controller/api/cluster.h): the planner lease, which
// controller holds which agent's stream, the change feed and rollout revisions, on the store of
// each controller (two stores on one database, SQLite or, in the PostgreSQL run, one server);
// and a controller's reading of the change feed (Cluster::Poll on real stores, what reaches a
// fake agent stream): in commit order, resynced after a prune, backlogs read at once.
#include <thread>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "common/core/clock.h"
#include "controller/api/cluster.h"
#include "controller/api/context.h"
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
  REQUIRE(b->ForgetDeadControllers(times, kT0 + 20 + times.forget_seconds));
  CHECK(f.QueryInt("SELECT count(*) FROM sessions") == 1);  // not quite an hour
  REQUIRE(b->Heartbeat(Self("b"), times, kT0 + 20 + times.forget_seconds + 1));
  REQUIRE(b->ForgetDeadControllers(times, kT0 + 20 + times.forget_seconds + 1));
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

namespace {

struct FakeStream final : AgentStreamHandle {
  int sends = 0;
  int closes = 0;
  void Send(const edge::v1::ControllerMessage&) override { ++sends; }
  void Close(int, const std::string&) override { ++closes; }
};

// Controller "b": a context on its own store with gw-1 connected to it, and its Cluster (not
// started: the test drives Poll; the cursor starts at 0).
struct ControllerB {
  boost::asio::io_context io;
  edge::FakeClock clock{kT0};
  ControllerContext ctx;
  std::shared_ptr<FakeStream> stream = std::make_shared<FakeStream>();
  std::unique_ptr<Cluster> cluster;

  explicit ControllerB(std::unique_ptr<Store> store) : ctx(ControllerConfig{}, io, std::move(store), clock) {
    ctx.SetTrust(std::make_shared<const TrustState>(TrustState{"envelope", {}}));
    ctx.sessions["gw-1"] = stream;
    ClusterOptions options;
    options.self = {"b", "host-b", "", "", kT0, 0, 0, false};
    cluster = std::make_unique<Cluster>(ctx, options);
    ctx.cluster = cluster.get();
  }
};

std::string Entry(const std::string& kind, const std::string& subject, const std::string& origin) {
  return "INSERT INTO fleet_changes(kind, subject, origin, at) VALUES ('" + kind + "', '" + subject + "', '" + origin +
         "', " + std::to_string(kT0) + ")";
}

}  // namespace

TEST_CASE("Cluster: a long step that commits after a quicker change still reaches other controllers' agents",
          "[store][cluster]") {
  EDGE_STORE_FIXTURE(f, Member("a"));
  if (!f.db.postgres()) {
    SUCCEED("PostgreSQL only: SQLite's writers take turns, so entries commit in seq order");
    return;
  }
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  ControllerB b(f.Open(Member("b")));
  // a's planner writes a wave's entries in one transaction, gw-1 (on b) among them...
  auto step = f.Connect();
  REQUIRE(step->Exec("BEGIN"));
  REQUIRE(step->Exec("INSERT INTO fleet_changes(kind, subject, origin, at) SELECT 'desired', 'gw-x' || g, 'a', " +
                     std::to_string(kT0) + " FROM generate_series(1, 20000) g"));
  REQUIRE(step->Exec(Entry("desired", "gw-1", "a")));
  // ...while an operator pauses a rollout through c: its entry waits for the step's commit
  // (migration 008's lock), so it cannot become visible first and carry b's cursor past it.
  std::thread pause([&] { f.Exec(Entry("rollout", "7", "c")); });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  b.cluster->Poll();
  CHECK(b.cluster->cursor() == 0);
  REQUIRE(step->Exec("COMMIT"));
  pause.join();
  b.cluster->Poll();
  b.io.poll();  // the reads Poll posted (more than one read's worth)
  CHECK(b.stream->sends == 1);
  CHECK(f.QueryInt("SELECT seq FROM fleet_changes WHERE kind = 'rollout'") >
        f.QueryInt("SELECT seq FROM fleet_changes WHERE subject = 'gw-1'"));
}

TEST_CASE("Cluster: a controller that finds entries were pruned before it read them resyncs its agents",
          "[store][cluster]") {
  EDGE_STORE_FIXTURE(f, Member("a"));
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  f.Enroll("gw-2", "plant-1");
  ControllerB b(f.Open(Member("b")));
  auto gw2 = std::make_shared<FakeStream>();
  b.ctx.sessions["gw-2"] = gw2;
  const ClusterTimes times;
  b.cluster->Poll();
  // b is cut off from the database for over an hour (its agents stay: served from memory);
  // meanwhile a dispatches to gw-1 and revokes gw-2, both on b, and the feed is pruned.
  f.Exec(Entry("desired", "gw-1", "a"));
  REQUIRE(f.store->RevokeDevice("gw-2", "op/admin", "stolen", kT0));
  REQUIRE(f.store->ForgetDeadControllers(times, kT0 + times.forget_seconds + 10));
  CHECK(f.QueryInt("SELECT count(*) FROM fleet_changes") == 1);  // the newest stays
  b.cluster->Poll();
  CHECK(b.stream->sends == 1);               // gw-1 got its desired state
  CHECK(gw2->closes == 1);                   // the revoked gw-2 lost its stream
  CHECK(b.ctx.sessions.count("gw-2") == 0);
}

TEST_CASE("Cluster: a backlog larger than one read is read on at once", "[store][cluster]") {
  EDGE_STORE_FIXTURE(f, Member("a"));
  f.Site("plant-1");
  f.Enroll("gw-1", "plant-1");
  ControllerB b(f.Open(Member("b")));
  auto c = f.Connect();
  REQUIRE(c->Write([&] {
    for (int i = 0; i < 2500; ++i) {
      auto st = c->Prepare("INSERT INTO fleet_changes(kind, subject, origin, at) VALUES ('desired', ?, 'a', ?)");
      if (!st) return edge::Status(edge::Fail(st.error()));
      st->Bind(1, i == 2499 ? std::string("gw-1") : "gw-x" + std::to_string(i)).Bind(2, kT0);
      if (auto s = st->Run(); !s) return s;
    }
    return edge::Ok();
  }));
  b.cluster->Poll();
  b.io.poll();  // runs the read Poll posted
  CHECK(b.stream->sends == 1);
}

TEST_CASE("Cluster: session rows are made to match the streams a controller holds", "[store][cluster]") {
  EDGE_STORE_FIXTURE(f, Member("a"));
  f.Site("plant-1");
  for (auto d : {"gw-1", "gw-2", "gw-3", "gw-4"}) f.Enroll(d, "plant-1");
  // gw-1's stream 1 ended during an outage (its removal failed); gw-2's stream 2 said hello and
  // is not a session yet; gw-3 is held on stream 3 but its row is missing; gw-4 is as it should be.
  Record(*f.store, {Hello("gw-1", 1, kT0), Hello("gw-2", 2, kT0), Hello("gw-4", 4, kT0)});
  auto fixed = f.store->ReconcileSessions("a", {2, 3, 4}, {{"gw-3", 3}, {"gw-4", 4}}, kT0);
  REQUIRE(fixed);
  CHECK(*fixed == 2);
  CHECK(f.QueryInt("SELECT count(*) FROM sessions WHERE device_id = 'gw-1'") == 0);
  CHECK(f.QueryInt("SELECT count(*) FROM sessions WHERE device_id IN ('gw-2', 'gw-3', 'gw-4')") == 3);
  CHECK(*f.store->ReconcileSessions("a", {2, 3, 4}, {{"gw-3", 3}, {"gw-4", 4}}, kT0) == 0);
}
