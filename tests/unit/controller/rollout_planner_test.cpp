// The rollout planner with a fake clock and simulated devices: strategies, gates, skips,
// timeouts, operator controls, revert, standing targets, and restarts from every stored state.
#include <algorithm>
#include <set>

#include <catch2/catch.hpp>

#include "controller/rollout/planner.h"
#include "rollout_sim.h"

using namespace edge::controller::testing;
using edge::controller::rollout::Amount;
using DS = edge::controller::rollout::DeviceState;
using State = edge::controller::rollout::State;
using edge::controller::rollout::Control;
using edge::controller::rollout::OnFailure;
using edge::controller::rollout::InsufficientTraffic;

namespace {

const std::vector<std::string> kSites = {"plant-a", "plant-b", "plant-c"};

std::set<std::string> SitesOf(const RolloutSim& sim, const std::vector<std::string>& ids) {
  std::set<std::string> out;
  for (const auto& id : ids) out.insert(sim.fleet.at(id).site);
  return out;
}

// Commits whatever is dispatched and ticks until the rollout stops moving (time advances a
// second a round, so soaks of a few seconds pass).
void RunToEnd(RolloutSim& sim, int rounds = 200) {
  for (int i = 0; i < rounds && sim.rollout.state == State::kRunning; ++i) {
    sim.Tick();
    sim.CommitAll();
    sim.now += 1;
  }
  sim.Tick();
}

}  // namespace

// ---- strategies ----

TEST_CASE("Rollout planner: canary count then percentage waves, each device dispatched once", "[rollout][planner]") {
  for (bool persist : {false, true}) {
    auto s = Plain();
    s.canary = Amount::Count(1);
    s.waves = {Amount::Percent(50), Amount::Percent(100)};
    RolloutSim sim(s, Devices(12, kSites), "1.0", persist);
    sim.Tick();
    REQUIRE(sim.InWave(0).size() == 1);
    CHECK(sim.Count(DS::kDispatched) == 1);
    RunToEnd(sim);
    CHECK(sim.rollout.state == State::kCompleted);
    CHECK(sim.InWave(0).size() == 1);
    CHECK(sim.InWave(1).size() == 5);
    CHECK(sim.InWave(2).size() == 6);
    CHECK(sim.Count(DS::kUpdated) == 12);
    for (const auto& [id, n] : sim.sent) CHECK(n == 1);
    const auto kinds = sim.EventKinds();
    CHECK(std::count(kinds.begin(), kinds.end(), "wave_started") == 3);
    CHECK(sim.HasEvent("completed"));
    for (const auto& row : sim.rollout.devices) CHECK(row.from_version == "1.0");
  }
}

TEST_CASE("Rollout planner: a percentage canary rounds up, and waves may be counts", "[rollout][planner]") {
  auto s = Plain();
  s.canary = Amount::Percent(25);
  s.waves = {Amount::Count(6), Amount::Count(10)};
  RolloutSim sim(s, Devices(10, kSites));
  RunToEnd(sim);
  CHECK(sim.rollout.state == State::kCompleted);
  CHECK(sim.InWave(0).size() == 3);  // 25% of 10 = 2.5
  CHECK(sim.InWave(1).size() == 3);  // up to 6
  CHECK(sim.InWave(2).size() == 4);  // up to 10
}

TEST_CASE("Rollout planner: a per-site canary takes the amount from every site", "[rollout][planner]") {
  auto s = Plain();
  s.canary = Amount::Count(1);
  s.canary_per_site = true;
  RolloutSim sim(s, Devices(9, kSites));
  sim.Tick();
  auto canary = sim.InWave(0);
  REQUIRE(canary.size() == 3);
  CHECK(SitesOf(sim, canary) == std::set<std::string>(kSites.begin(), kSites.end()));
}

TEST_CASE("Rollout planner: waves spread over sites round-robin, online devices first", "[rollout][planner]") {
  auto s = Plain();
  s.canary = Amount::Count(3);
  RolloutSim sim(s, Devices(9, kSites));
  sim.fleet["gw-01"].online = false;  // plant-a's first device
  sim.Tick();
  auto canary = sim.InWave(0);
  REQUIRE(canary.size() == 3);
  CHECK(SitesOf(sim, canary).size() == 3);
  CHECK(std::find(canary.begin(), canary.end(), "gw-01") == canary.end());
  CHECK(std::find(canary.begin(), canary.end(), "gw-04") != canary.end());  // plant-a's next, online
}

TEST_CASE("Rollout planner: all at once dispatches every device in one step", "[rollout][planner]") {
  RolloutSim sim(edge::controller::rollout::AllAtOnce(), Devices(7, kSites));
  auto step = sim.Tick();
  CHECK(step.dispatches.size() == 7);
  CHECK(sim.rollout.WaveCount() == 1);
  sim.CommitAll();
  sim.Tick();
  CHECK(sim.rollout.state == State::kCompleted);
}

TEST_CASE("Rollout planner: max parallel limits devices in flight fleet-wide", "[rollout][planner]") {
  auto s = edge::controller::rollout::AllAtOnce();
  s.max_parallel = 2;
  RolloutSim sim(s, Devices(6, kSites));
  CHECK(sim.Tick().dispatches.size() == 2);
  CHECK(sim.Tick().dispatches.empty());  // nothing finished yet
  sim.CommitAll();
  CHECK(sim.Tick().dispatches.size() == 2);
  sim.CommitAll();
  CHECK(sim.Tick().dispatches.size() == 2);
  sim.CommitAll();
  sim.Tick();
  CHECK(sim.rollout.state == State::kCompleted);
}

TEST_CASE("Rollout planner: the site budget limits each site's devices in flight", "[rollout][planner]") {
  SECTION("a count") {
    auto s = edge::controller::rollout::AllAtOnce();
    s.site_budget = Amount::Count(1);
    RolloutSim sim(s, Devices(6, {"plant-a", "plant-b"}));
    auto step = sim.Tick();
    REQUIRE(step.dispatches.size() == 2);
    CHECK(sim.fleet[step.dispatches[0].device].site != sim.fleet[step.dispatches[1].device].site);
  }
  SECTION("a percentage of the site's devices") {
    auto s = edge::controller::rollout::AllAtOnce();
    s.site_budget = Amount::Percent(50);
    RolloutSim sim(s, Devices(8, {"plant-a", "plant-b"}));
    CHECK(sim.Tick().dispatches.size() == 4);  // 2 of 4 at each site
    sim.CommitAll();
    CHECK(sim.Tick().dispatches.size() == 4);
  }
}

TEST_CASE("Rollout planner: a wave's gate passes only after the soak", "[rollout][planner]") {
  auto s = Plain();
  s.soak_seconds = 60;
  s.waves = {Amount::Percent(100)};
  RolloutSim sim(s, Devices(4, kSites));
  sim.Tick();
  sim.CommitAll();
  sim.Tick();
  CHECK(sim.rollout.waves[0].completed_at == sim.now);
  CHECK(sim.rollout.wave == 0);
  sim.now += 59;
  sim.Tick();
  CHECK(sim.rollout.wave == 0);
  sim.now += 1;
  sim.Tick();
  CHECK(sim.rollout.wave == 1);
  CHECK(sim.Count(DS::kDispatched) == 3);
}

// ---- outcomes and timeouts ----

TEST_CASE("Rollout planner: a device without an outcome times out and is counted if it reports later",
          "[rollout][planner][timeout]") {
  auto s = edge::controller::rollout::AllAtOnce();
  s.device_timeout_seconds = 30;
  RolloutSim sim(s, Devices(3, kSites));
  sim.Tick();
  sim.Commit("gw-01");
  sim.Commit("gw-02");
  sim.now += 29;
  sim.Tick();
  CHECK(sim.Row("gw-03").state == DS::kDispatched);
  sim.now += 1;
  sim.Tick();
  CHECK(sim.Row("gw-03").state == DS::kTimedOut);
  CHECK_THAT(sim.Row("gw-03").detail, Catch::Contains("no outcome 30s after dispatch"));
  CHECK(sim.rollout.state == State::kCompleted);  // timed out counts as neither success nor failure
  CHECK(sim.desired["gw-03"] == "2.0");            // it keeps the version as its desired one
  sim.Commit("gw-03");
  sim.Tick();
  CHECK(sim.Row("gw-03").state == DS::kUpdated);
}

TEST_CASE("Rollout planner: a failure reported before the dispatch is not its outcome", "[rollout][planner]") {
  auto s = edge::controller::rollout::AllAtOnce();
  RolloutSim sim(s, Devices(1, kSites));
  // Refused under an expired policy before this rollout (a refusal is retried).
  sim.fleet["gw-01"].state = "failed";
  sim.fleet["gw-01"].target_version = "2.0";
  sim.fleet["gw-01"].detail = "refused 2.0: trust policy v2 expired";
  sim.fleet["gw-01"].failed_at["2.0"] = sim.now - 100;
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kDispatched);
  sim.now += 5;
  sim.Tick();  // the agent has not reported on the new dispatch yet: still the old failed state
  CHECK(sim.Row("gw-01").state == DS::kDispatched);
  sim.Commit("gw-01");
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kUpdated);
}

TEST_CASE("Rollout planner: a failed device goes back to its incumbent and is not retried", "[rollout][planner]") {
  auto s = edge::controller::rollout::AllAtOnce();
  s.failure_threshold = 1.0;
  s.success_threshold = 0.0;
  RolloutSim sim(s, Devices(2, kSites));
  sim.Tick();
  sim.Fail("gw-01", "rolled_back", "p99 over budget");
  sim.Commit("gw-02");
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kFailed);
  CHECK_THAT(sim.Row("gw-01").detail, Catch::Contains("rolled_back on 2.0: p99 over budget"));
  CHECK(sim.desired["gw-01"] == "1.0");
  CHECK(sim.sent["gw-01"] == 2);
  CHECK(sim.rollout.state == State::kCompleted);
  sim.Tick();
  CHECK(sim.sent["gw-01"] == 2);
}

// ---- install gate ----

TEST_CASE("Rollout planner: failures above the failure threshold stop the wave at once", "[rollout][planner][gate]") {
  auto s = edge::controller::rollout::AllAtOnce();
  s.failure_threshold = 0.10;
  s.success_threshold = 0.0;
  s.on_failure = OnFailure::kPause;
  RolloutSim sim(s, Devices(10, kSites));
  sim.Tick();
  sim.Fail("gw-01");
  sim.Tick();
  CHECK(sim.rollout.state == State::kRunning);  // 1 of 10 is not above 10%
  sim.Fail("gw-02");
  sim.Tick();
  CHECK(sim.rollout.state == State::kPaused);  // before the other 8 reported
  CHECK_THAT(sim.rollout.reason, Catch::Contains("install failures: 2 of 10"));
  CHECK(sim.Count(DS::kDispatched) == 8);
}

TEST_CASE("Rollout planner: too few installs at the end of a wave fail the success threshold", "[rollout][planner][gate]") {
  auto s = Plain();
  s.canary = Amount::Percent(100);
  s.waves.clear();
  s.failure_threshold = 1.0;
  s.success_threshold = 0.95;
  s.on_failure = OnFailure::kAbort;
  RolloutSim sim(s, Devices(10, kSites));
  sim.Tick();
  sim.Fail("gw-01");
  for (const auto& [id, site] : Devices(10, kSites))
    if (id != "gw-01") sim.Commit(id);
  sim.Tick();
  CHECK(sim.rollout.state == State::kAborted);
  CHECK_THAT(sim.rollout.reason, Catch::Contains("installed on 9 of 10 (90.0%, threshold 95.0%)"));
  CHECK(sim.desired["gw-02"] == "2.0");  // abort: devices keep what they run
}

// ---- health gate ----

namespace {
// A canary-of-1 rollout with health gates on, where every device served 100 requests of 1.0 at
// 100 us with no errors before the dispatch.
RolloutSim HealthSim(bool persist = false) {
  ro::Strategy s;
  s.canary = Amount::Count(1);
  s.waves = {Amount::Percent(100)};
  s.soak_seconds = 30;
  s.min_requests = 50;
  s.health_timeout_seconds = 120;
  RolloutSim sim(s, Devices(6, kSites), "1.0", persist);
  sim.ServeAll(100, 0, 100);
  return sim;
}
std::string Canary(const RolloutSim& sim) { return sim.InWave(0).at(0); }
}  // namespace

TEST_CASE("Rollout planner: a healthy canary passes once soaked and the rollout goes on", "[rollout][planner][health]") {
  auto sim = HealthSim();
  sim.Tick();
  const auto c = Canary(sim);
  CHECK(sim.Row(c).baseline.has_value());
  sim.Commit(c);
  sim.fleet[c].health = Health("2.0", 80, 0, 100);
  sim.Tick();
  CHECK(sim.rollout.wave == 0);
  sim.now += 30;
  sim.Tick();
  CHECK(sim.rollout.wave == 1);
  CHECK_THAT(sim.rollout.waves[0].gate, Catch::StartsWith("passed: error rate 0.0% vs 0.0%"));
}

TEST_CASE("Rollout planner: too little traffic waits, then pauses (or proceeds when told)", "[rollout][planner][health]") {
  for (auto mode : {InsufficientTraffic::kPause, InsufficientTraffic::kProceed}) {
    auto sim = HealthSim();
    sim.rollout.strategy.insufficient_traffic = mode;
    sim.Tick();
    const auto c = Canary(sim);
    sim.Commit(c);
    sim.fleet[c].health = Health("2.0", 10, 0, 100);
    sim.Tick();
    sim.now += 30 + 119;
    sim.Tick();
    CHECK(sim.rollout.state == State::kRunning);
    CHECK(sim.rollout.wave == 0);
    sim.now += 1;
    sim.Tick();
    if (mode == InsufficientTraffic::kPause) {
      // Even with on_failure revert: missing evidence is not a verdict on the version.
      CHECK(sim.rollout.state == State::kPaused);
      CHECK_THAT(sim.rollout.reason, Catch::Contains("not enough traffic to judge health: 10 of 50 requests"));
      CHECK(sim.desired[c] == "2.0");
    } else {
      CHECK(sim.rollout.wave == 1);
      CHECK_THAT(sim.rollout.waves[0].gate, Catch::StartsWith("passed without health evidence"));
    }
  }
}

TEST_CASE("Rollout planner: a higher error rate fails the canary at once and reverts it, nobody else is touched",
          "[rollout][planner][health][revert]") {
  auto sim = HealthSim();
  sim.Tick();
  const auto c = Canary(sim);
  sim.Commit(c);
  sim.fleet[c].health = Health("2.0", 60, 6, 100);
  sim.Tick();  // before the soak: a bad figure fails at once
  CHECK(sim.rollout.state == State::kReverting);
  CHECK_THAT(sim.rollout.reason, Catch::Contains("error rate 10.0% on 2.0 vs 0.0% on the incumbent (limit +1.0%)"));
  CHECK(sim.desired[c] == "1.0");
  CHECK(sim.Row(c).state == DS::kReverting);
  sim.Commit(c);
  sim.Tick();
  CHECK(sim.Row(c).state == DS::kReverted);
  CHECK(sim.rollout.state == State::kReverted);
  CHECK(sim.sent[c] == 2);
  for (const auto& [id, n] : sim.sent)
    if (id != c) CHECK(n == 0);
  sim.Tick();
  CHECK(sim.sent[c] == 2);  // the revert is sent once
}

TEST_CASE("Rollout planner: p99 against the incumbent's on the same devices", "[rollout][planner][health]") {
  SECTION("much slower fails") {
    auto sim = HealthSim();
    sim.Tick();
    const auto c = Canary(sim);
    sim.Commit(c);
    sim.fleet[c].health = Health("2.0", 60, 0, 500);
    sim.Tick();
    CHECK(sim.rollout.state == State::kReverting);
    CHECK_THAT(sim.rollout.reason, Catch::Contains("p99") && Catch::Contains("limit +20.0%"));
  }
  SECTION("within the limit passes") {
    auto sim = HealthSim();
    sim.rollout.strategy.max_latency_regression = 2.0;  // +200%: 200 us vs 100 us is fine
    sim.Tick();
    const auto c = Canary(sim);
    sim.Commit(c);
    sim.fleet[c].health = Health("2.0", 60, 0, 200);
    sim.Tick();  // the wave is done now; the soak starts
    sim.now += 30;
    sim.Tick();
    CHECK(sim.rollout.wave == 1);
  }
  SECTION("no comparison when the incumbent served too little") {
    auto sim = HealthSim();
    sim.ServeAll(10, 0, 100);
    sim.Tick();
    const auto c = Canary(sim);
    sim.Commit(c);
    sim.fleet[c].health = Health("2.0", 60, 0, 5000);
    sim.Tick();
    sim.now += 30;
    sim.Tick();
    CHECK(sim.rollout.wave == 1);
    CHECK_THAT(sim.rollout.waves[0].gate, Catch::Contains("no incumbent latency to compare with"));
  }
}

TEST_CASE("Rollout planner: a failed self-test and a crash loop fail the health gate", "[rollout][planner][health]") {
  SECTION("self-test") {
    auto sim = HealthSim();
    sim.Tick();
    const auto c = Canary(sim);
    sim.Commit(c);
    auto h = Health("2.0", 60, 0, 100);
    h.last_selftest = "failed: case 0 output differs";
    h.last_selftest_at = sim.now;
    sim.fleet[c].health = h;
    sim.Tick();
    CHECK(sim.rollout.state == State::kReverting);
    CHECK_THAT(sim.rollout.reason, Catch::Contains("self-test of 2.0 failed"));
  }
  SECTION("restarts") {
    auto sim = HealthSim();
    sim.Tick();
    const auto c = Canary(sim);
    sim.Commit(c);
    sim.fleet[c].restarts_since_dispatch = 3;
    sim.Tick();
    CHECK(sim.rollout.state == State::kReverting);
    CHECK_THAT(sim.rollout.reason, Catch::Contains("restarted 3 times since the update (limit 2)"));
  }
}

// ---- revert ----

TEST_CASE("Rollout planner: a revert sends every moved device back once and tracks each outcome", "[rollout][planner][revert]") {
  auto s = Plain();
  s.canary = Amount::Count(4);
  s.waves = {Amount::Percent(100)};
  s.device_timeout_seconds = 60;
  s.soak_seconds = 600;  // wave 1 has not started when the operator reverts
  RolloutSim sim(s, Devices(6, kSites));
  sim.fleet["gw-01"].active_version = "";  // ran nothing before
  sim.fleet["gw-01"].state = "";
  sim.Tick();
  REQUIRE(sim.InWave(0) == std::vector<std::string>{"gw-01", "gw-02", "gw-03", "gw-04"});
  sim.CommitAll();
  sim.fleet["gw-02"].floor = 5;  // 2.0 raised it above 1.0's security_version
  sim.Tick();
  auto step = sim.Control(Control::kAbortRevert);
  CHECK(sim.rollout.state == State::kReverting);
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kRevertFailed);
  CHECK_THAT(sim.Row("gw-01").detail, Catch::Contains("nothing to go back to"));
  CHECK(sim.Row("gw-02").state == DS::kRevertFailed);
  CHECK_THAT(sim.Row("gw-02").detail, Catch::Contains("anti-rollback floor 5 is above 1.0"));
  CHECK(sim.Row("gw-03").state == DS::kReverting);
  CHECK(sim.Row("gw-04").state == DS::kReverting);
  CHECK(sim.desired["gw-03"] == "1.0");
  CHECK(sim.desired["gw-01"] == "2.0");  // nothing sent where it cannot go
  sim.Commit("gw-03");
  sim.Fail("gw-04", "failed", "blob gone");
  sim.fleet["gw-04"].target_version = "1.0";
  sim.Tick();
  CHECK(sim.Row("gw-03").state == DS::kReverted);
  CHECK(sim.Row("gw-04").state == DS::kRevertFailed);
  CHECK(sim.rollout.state == State::kReverted);
  CHECK(sim.sent["gw-03"] == 2);
  CHECK(sim.sent["gw-05"] == 0);  // never moved
  CHECK(sim.Row("gw-05").state == DS::kPending);
}

TEST_CASE("Rollout planner: a revert with no outcome times out as revert_failed", "[rollout][planner][revert]") {
  auto s = edge::controller::rollout::AllAtOnce();
  s.device_timeout_seconds = 60;
  RolloutSim sim(s, Devices(1, kSites));
  sim.Tick();
  sim.CommitAll();
  sim.Tick();
  sim.Control(Control::kAbortRevert);
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kReverting);
  sim.now += 60;
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kRevertFailed);
  CHECK_THAT(sim.Row("gw-01").detail, Catch::Contains("not back on 1.0"));
  CHECK(sim.rollout.state == State::kReverted);
}

TEST_CASE("Rollout planner: devices that already ran the version are not moved and not reverted", "[rollout][planner][revert]") {
  auto s = Plain();
  s.canary = Amount::Count(1);
  s.waves = {Amount::Percent(100)};
  RolloutSim sim(s, Devices(4, kSites));
  sim.fleet["gw-02"].active_version = "2.0";  // an offline install, say
  sim.desired["gw-02"] = "2.0";
  sim.Tick();
  CHECK(sim.Row("gw-02").state == DS::kUpdated);
  CHECK(sim.sent["gw-02"] == 0);
  // It takes no share of a wave: the canary is still one device that had to move.
  REQUIRE(sim.InWave(0).size() == 1);
  CHECK(sim.InWave(0)[0] != "gw-02");
  sim.CommitAll();
  sim.Tick();
  sim.Control(Control::kAbortRevert);
  sim.Tick();
  CHECK(sim.sent["gw-02"] == 0);
  CHECK(sim.desired["gw-02"] == "2.0");
  CHECK(sim.Row("gw-02").state == DS::kUpdated);  // not "revert_failed": it was never moved
}

// ---- skips ----

TEST_CASE("Rollout planner: devices that cannot take the version are skipped and never block", "[rollout][planner][skip]") {
  auto s = edge::controller::rollout::AllAtOnce();
  RolloutSim sim(s, Devices(6, kSites));
  sim.fleet["gw-01"].floor = 5;
  sim.fleet["gw-02"].incompatible = "bundle is for arm64, the device is x86_64";
  sim.fleet["gw-03"].state = "rolled_back";  // the agent's own verdict on 2.0, before this rollout
  sim.fleet["gw-03"].target_version = "2.0";
  sim.fleet["gw-03"].detail = "p99 over budget";
  sim.fleet["gw-03"].failed_at["2.0"] = sim.now - 50;
  sim.fleet["gw-04"].state = "failed";  // a refusal: retried
  sim.fleet["gw-04"].target_version = "2.0";
  sim.fleet["gw-04"].detail = "refused 2.0: trust policy v2 expired";
  sim.fleet["gw-04"].failed_at["2.0"] = sim.now - 50;
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kSkipped);
  CHECK_THAT(sim.Row("gw-01").detail, Catch::Contains("anti-rollback floor 5 is above 2.0's security_version 1"));
  CHECK(sim.Row("gw-02").state == DS::kSkipped);
  CHECK_THAT(sim.Row("gw-02").detail, Catch::Contains("incompatible: bundle is for arm64"));
  CHECK(sim.Row("gw-03").state == DS::kSkipped);
  CHECK_THAT(sim.Row("gw-03").detail, Catch::Contains("its agent does not retry a failed version"));
  CHECK(sim.Row("gw-04").state == DS::kDispatched);
  sim.CommitAll();
  sim.Tick();
  CHECK(sim.rollout.state == State::kCompleted);
  CHECK(sim.Count(DS::kUpdated) == 3);
  for (const char* id : {"gw-01", "gw-02", "gw-03"}) CHECK(sim.sent[id] == 0);
}

TEST_CASE("Rollout planner: a version that failed on a device in this rollout is not retried there", "[rollout][planner][skip]") {
  auto s = edge::controller::rollout::AllAtOnce();
  s.failure_threshold = 1.0;
  s.success_threshold = 0.0;
  RolloutSim sim(s, Devices(2, kSites));
  sim.claimed["gw-02"] = false;  // not in the target yet
  sim.Tick();
  sim.Fail("gw-01");
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kFailed);
  // gw-02 failed 2.0 during this rollout (another path sent it) and then joins the target.
  sim.desired["gw-02"] = "2.0";
  sim.Fail("gw-02");
  sim.claimed["gw-02"] = true;
  sim.Tick();
  CHECK(sim.Row("gw-02").state == DS::kSkipped);
  CHECK_THAT(sim.Row("gw-02").detail, Catch::Contains("already failed on this device in this rollout"));
}

// ---- standing target ----

TEST_CASE("Rollout planner: the target is standing: joiners get the version, leavers are superseded",
          "[rollout][planner][standing]") {
  auto s = Plain();
  s.canary = Amount::Count(1);
  s.waves = {Amount::Percent(100)};
  RolloutSim sim(s, Devices(4, kSites));
  sim.claimed["gw-04"] = false;
  sim.Tick();
  CHECK_FALSE(sim.HasEvent("joined"));  // the target as created
  sim.claimed["gw-04"] = true;          // enrolled while the canary runs
  sim.Tick();
  CHECK(sim.HasEvent("joined", "gw-04"));
  CHECK(sim.Row("gw-04").state == DS::kPending);
  RunToEnd(sim);
  CHECK(sim.rollout.state == State::kCompleted);
  CHECK(sim.Row("gw-04").state == DS::kUpdated);
  // After completion a new device is dispatched at once.
  ro::Observed late = sim.fleet["gw-01"];
  late.id = "gw-09";
  late.active_version = "";
  late.state = "";
  sim.fleet["gw-09"] = late;
  sim.desired["gw-09"] = "";
  sim.Tick();
  CHECK(sim.Row("gw-09").state == DS::kDispatched);
  CHECK(sim.desired["gw-09"] == "2.0");
  // A device that leaves (a newer rollout took it) is superseded; back and on the version, updated.
  sim.claimed["gw-02"] = false;
  sim.Tick();
  CHECK(sim.Row("gw-02").state == DS::kSuperseded);
  sim.claimed["gw-02"] = true;
  sim.Tick();
  CHECK(sim.Row("gw-02").state == DS::kUpdated);
  CHECK(sim.HasEvent("rejoined", "gw-02"));
}

TEST_CASE("Rollout planner: a superseded device running another version stays superseded", "[rollout][planner][standing]") {
  RolloutSim sim(edge::controller::rollout::AllAtOnce(), Devices(2, kSites));
  sim.Tick();
  sim.CommitAll();
  sim.Tick();
  sim.claimed["gw-01"] = false;
  sim.Tick();
  sim.desired["gw-01"] = "3.0";  // the newer rollout's version
  sim.Commit("gw-01");
  sim.claimed["gw-01"] = true;  // the newer one was aborted
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kSuperseded);
  CHECK(sim.desired["gw-01"] == "3.0");
}

TEST_CASE("Rollout planner: an empty wave passes at once", "[rollout][planner]") {
  auto s = Plain();
  s.canary = Amount::Count(1);
  s.waves = {Amount::Percent(100)};
  RolloutSim sim(s, Devices(2, kSites));
  sim.fleet["gw-01"].floor = 9;
  sim.fleet["gw-02"].floor = 9;
  sim.Tick();
  CHECK(sim.rollout.state == State::kCompleted);
  CHECK(sim.Count(DS::kSkipped) == 2);
}

// ---- operator controls ----

TEST_CASE("Rollout planner: pause stops new dispatches, resume goes on", "[rollout][planner][control]") {
  auto s = edge::controller::rollout::AllAtOnce();
  s.max_parallel = 1;
  RolloutSim sim(s, Devices(3, kSites));
  sim.Tick();
  sim.Control(Control::kPause);
  CHECK(sim.rollout.state == State::kPaused);
  CHECK(sim.rollout.reason == "paused by the operator");
  sim.CommitAll();
  sim.Tick();
  CHECK(sim.Count(DS::kUpdated) == 1);  // the device in flight still finishes
  CHECK(sim.Count(DS::kDispatched) == 0);
  sim.Control(Control::kResume);
  CHECK(sim.rollout.state == State::kRunning);
  sim.Tick();
  CHECK(sim.Count(DS::kDispatched) == 1);
}

TEST_CASE("Rollout planner: resume after a failed gate goes on past it", "[rollout][planner][control]") {
  auto s = Plain();
  s.canary = Amount::Count(1);
  s.waves = {Amount::Percent(100)};
  s.on_failure = OnFailure::kPause;
  RolloutSim sim(s, Devices(4, kSites));
  sim.Tick();
  sim.Fail(sim.InWave(0)[0]);
  sim.Tick();
  REQUIRE(sim.rollout.state == State::kPaused);
  sim.Control(Control::kResume);
  CHECK(sim.HasEvent("resumed"));
  sim.Tick();
  CHECK(sim.rollout.wave == 1);
  CHECK_THAT(sim.rollout.waves[0].gate, Catch::Contains("overridden by the operator"));
  CHECK(sim.Count(DS::kDispatched) == 3);
}

TEST_CASE("Rollout planner: a control that does not apply is refused, naming the state", "[rollout][planner][control]") {
  RolloutSim sim(Plain(), Devices(2, kSites));
  sim.Tick();
  auto resume = ro::ApplyControl(sim.rollout, Control::kResume, "", sim.now);
  REQUIRE_FALSE(resume);
  CHECK_THAT(resume.error().message, Catch::Contains("is running: cannot resume it"));
  sim.Control(Control::kAbort);
  CHECK(sim.rollout.state == State::kAborted);
  auto again = ro::ApplyControl(sim.rollout, Control::kAbort, "", sim.now);
  REQUIRE_FALSE(again);
  CHECK_THAT(again.error().message, Catch::Contains("is aborted: cannot abort it"));
  auto pause = ro::ApplyControl(sim.rollout, Control::kPause, "", sim.now);
  REQUIRE_FALSE(pause);
  // An aborted rollout can still be reverted.
  sim.Control(Control::kAbortRevert);
  CHECK(sim.rollout.state == State::kReverting);
  sim.Tick();
  auto pause_reverted = ro::ApplyControl(sim.rollout, Control::kPause, "", sim.now);
  REQUIRE_FALSE(pause_reverted);
  CHECK_THAT(pause_reverted.error().message, Catch::Contains("cannot pause it"));
}

TEST_CASE("Rollout planner: abort keeps devices where they are", "[rollout][planner][control]") {
  RolloutSim sim(Plain(), Devices(4, kSites));
  sim.Tick();
  sim.CommitAll();
  sim.Tick();
  const auto sent_before = sim.sent;
  sim.Control(Control::kAbort);
  sim.Tick();
  CHECK(sim.sent == sent_before);
  sim.claimed["gw-04"] = false;  // an aborted rollout takes and gives nothing
  CHECK_FALSE(sim.Tick().changed);
}

// ---- restarts and determinism ----

TEST_CASE("Rollout planner: restarted from the store after every step, nothing is sent twice and no wave is lost",
          "[rollout][planner][restart]") {
  // Every step goes through SQLite and the next plans from what was read back; after each step
  // the sim also checks that planning again from the stored state sends nothing (rollout_sim.h).
  SECTION("a staged rollout with a timeout, a failure and a joiner") {
    auto s = Plain();
    s.canary = Amount::Count(1);
    s.waves = {Amount::Percent(50), Amount::Percent(100)};
    s.soak_seconds = 2;
    s.max_parallel = 2;
    s.device_timeout_seconds = 5;
    s.failure_threshold = 0.5;
    s.success_threshold = 0.5;
    RolloutSim sim(s, Devices(8, kSites), "1.0", true);
    sim.claimed["gw-08"] = false;
    bool failed_one = false;
    for (int i = 0; i < 200 && sim.rollout.state == State::kRunning; ++i) {
      sim.Tick();
      for (const auto& row : sim.rollout.devices) {
        if (row.state != DS::kDispatched || row.id == "gw-05") continue;  // gw-05 never answers
        if (!failed_one && row.wave == 1) {
          sim.Fail(row.id);
          failed_one = true;
        } else {
          sim.Commit(row.id);
        }
      }
      if (i == 3) sim.claimed["gw-08"] = true;
      sim.now += 1;
    }
    sim.Tick();
    CHECK(sim.rollout.state == State::kCompleted);
    CHECK(sim.rollout.waves.size() == 3);
    for (const auto& [id, n] : sim.sent) CHECK(n <= 2);  // a failed device gets its incumbent back once
    for (const auto& row : sim.rollout.devices) {
      if (row.state == DS::kFailed) CHECK(row.dispatches == 2);
      else CHECK(row.dispatches == 1);
    }
    CHECK(sim.Row("gw-05").state == DS::kTimedOut);
    CHECK(sim.Count(DS::kFailed) == 1);
    CHECK(sim.Row("gw-08").state == DS::kUpdated);
  }
  SECTION("paused, resumed, failed and reverted") {
    auto sim = HealthSim(true);
    sim.Tick();
    sim.Control(Control::kPause);
    sim.Tick();
    sim.Control(Control::kResume);
    sim.Tick();
    const auto c = Canary(sim);
    sim.Commit(c);
    sim.fleet[c].health = Health("2.0", 60, 30, 100);
    sim.Tick();
    CHECK(sim.rollout.state == State::kReverting);
    sim.Tick();
    sim.Commit(c);
    sim.Tick();
    CHECK(sim.rollout.state == State::kReverted);
    CHECK(sim.sent[c] == 2);
    CHECK(sim.sent.size() == 1);
  }
}

TEST_CASE("Rollout planner: the same inputs give the same step", "[rollout][planner]") {
  auto s = Plain();
  s.canary = Amount::Percent(30);
  RolloutSim a(s, Devices(20, kSites));
  RolloutSim b(s, Devices(20, kSites));
  auto sa = a.Tick();
  auto sb = b.Tick();
  REQUIRE(sa.dispatches.size() == sb.dispatches.size());
  for (size_t i = 0; i < sa.dispatches.size(); ++i) CHECK(sa.dispatches[i].device == sb.dispatches[i].device);
  CHECK(a.EventKinds() == b.EventKinds());
}

TEST_CASE("Rollout planner: p99 of a histogram is the agent's estimate", "[rollout][planner]") {
  const std::vector<uint64_t> bounds = {100, 200, 500};
  CHECK(ro::PercentileUs(bounds, {0, 0, 0, 0}, 99) == 0);
  CHECK(ro::PercentileUs(bounds, {100, 0, 0, 0}, 99) == Approx(99));
  CHECK(ro::PercentileUs(bounds, {50, 50, 0, 0}, 99) == Approx(198));
  CHECK(ro::PercentileUs(bounds, {0, 0, 0, 10}, 99) == Approx(500));  // the overflow bucket's lower edge
}

TEST_CASE("Rollout planner: resumed mid-wave after failures tripped the gate, the wave finishes and passes",
          "[rollout][planner][control]") {
  auto s = edge::controller::rollout::AllAtOnce();
  s.failure_threshold = 0.10;
  s.on_failure = OnFailure::kPause;
  RolloutSim sim(s, Devices(10, kSites));
  sim.Tick();
  sim.Fail("gw-01");
  sim.Fail("gw-02");
  sim.Tick();
  REQUIRE(sim.rollout.state == State::kPaused);
  sim.Control(Control::kResume);
  sim.Tick();
  CHECK(sim.rollout.state == State::kRunning);  // the same failures do not stop it again
  sim.CommitAll();
  sim.Tick();
  CHECK(sim.rollout.state == State::kCompleted);
  CHECK(sim.Count(DS::kUpdated) == 8);
}

TEST_CASE("Rollout planner: a device on the version but told to run another is dispatched, not counted as updated",
          "[rollout][planner]") {
  RolloutSim sim(edge::controller::rollout::AllAtOnce(), Devices(2, kSites));
  sim.fleet["gw-01"].active_version = "2.0";
  sim.desired["gw-01"] = "3.0";  // an older rollout's dispatch, not installed yet
  sim.fleet["gw-02"].active_version = "2.0";
  sim.desired["gw-02"] = "2.0";
  sim.Tick();
  CHECK(sim.Row("gw-01").state == DS::kDispatched);
  CHECK(sim.desired["gw-01"] == "2.0");
  CHECK(sim.Row("gw-02").state == DS::kUpdated);
  CHECK(sim.sent["gw-02"] == 0);
}

TEST_CASE("Rollout planner: a wave with no device passes at once, without a soak", "[rollout][planner]") {
  auto s = Plain();
  s.canary = Amount::Count(1);
  s.waves = {Amount::Percent(100)};
  s.soak_seconds = 300;
  RolloutSim sim(s, Devices(2, kSites));
  sim.fleet["gw-02"].active_version = "2.0";  // takes no share: wave 1 is empty
  sim.desired["gw-02"] = "2.0";
  sim.Tick();
  sim.CommitAll();
  sim.Tick();
  sim.now += 300;
  sim.Tick();
  CHECK(sim.rollout.state == State::kCompleted);
  CHECK_THAT(sim.rollout.waves[1].gate, Catch::Contains("no device in this wave"));
}
