// The update driver with fake ports and a fake clock: persistence order, epochs, outcomes,
// refusals, resume, pinning and failed writes, without a thread, a file or a socket.
#include <catch2/catch.hpp>

#include <map>
#include <random>

#include "agent/core/report_pacer.h"
#include "agent/core/update_driver.h"
#include "common/bundle/bundle.h"
#include "common/crypto/sha256.h"

using namespace edge;
using namespace edge::agent;
using S = UpdateState;
using E = UpdateEvent;
using A = UpdateAction;

namespace {

// An envelope whose manifest names model:version with a security version (unsigned: the fake
// verifier decides what verifies; the driver only reads the manifest's security version).
std::string EnvelopeFor(const std::string& model, const std::string& version, uint64_t security_version) {
  bundle::Manifest m;
  m.name = model;
  m.version = version;
  m.security_version = security_version;
  m.created = "2026-01-01T00:00:00Z";
  m.blobs.push_back({"model", std::string(64, 'a'), 100, "application/onnx"});
  bundle::Envelope e{"application/vnd.edgefleet.manifest+json", bundle::SerializeManifest(m), {}};
  return bundle::SerializeEnvelope(e);
}

struct Saved {
  ModelRecord record;
  std::vector<OutcomeEvent> outcomes;
};

class FakePorts : public UpdatePorts {
 public:
  Status Save(const ModelRecord& record, const std::vector<OutcomeEvent>& outcomes) override {
    if (fail_saves > 0) {
      --fail_saves;
      return Fail(ErrorCode::kIo, "disk I/O error");
    }
    saved.push_back({record, outcomes});
    for (const auto& o : outcomes) this->outcomes.push_back(o);
    return Ok();
  }
  Result<VerifiedTarget> Verify(const std::string& model, const std::string& version,
                                const std::string& envelope) override {
    ++verifications;
    if (auto it = refuse.find(version); it != refuse.end()) return Fail(ErrorCode::kPermissionDenied, it->second);
    auto parsed = bundle::UnverifiedManifest(envelope);
    if (!parsed) return Fail(parsed.error());
    if (parsed->name != model || parsed->version != version) return Fail(ErrorCode::kPermissionDenied, "wrong name");
    return VerifiedTarget{parsed->security_version, 100};
  }

  int fail_saves = 0;
  int verifications = 0;
  std::map<std::string, std::string> refuse;  // version → reason
  std::vector<Saved> saved;
  std::vector<OutcomeEvent> outcomes;
};

struct Rig {
  FakePorts ports;
  FakeClock clock{1'000'000};
  UpdateDriver driver{ports, clock};

  std::vector<Command> Offer(const std::string& version, uint64_t sv = 1, uint64_t generation = 1, bool local = false) {
    return driver.Offer({"kws", version, EnvelopeFor("kws", version, sv), local, generation});
  }
  const ModelRecord& R() const { return driver.records().at("kws"); }
  // Completes the single command `c` with `event`, expecting exactly one follow-up command.
  Command Step(const Command& c, E event, const std::string& detail = "") {
    auto next = driver.Complete(c.model, c.epoch, event, detail);
    REQUIRE(next.size() == 1);
    return next[0];
  }
  // From an offer to probation.
  Command ToProbation(const std::string& version, uint64_t sv = 1) {
    auto cmds = Offer(version, sv);
    REQUIRE(cmds.size() == 1);
    auto c = Step(cmds[0], E::kDownloaded);
    c = Step(c, E::kVerified);
    c = Step(c, E::kInstalled);
    c = Step(c, E::kActivated);
    REQUIRE(c.action == A::kWatch);
    return c;
  }
  void Commit(const std::string& version, uint64_t sv = 1) {
    auto c = ToProbation(version, sv);
    c = Step(c, E::kSoakPassed);
    REQUIRE(c.action == A::kCommit);
  }
};

ModelRecord InState(S state) {
  ModelRecord r;
  r.model = "kws";
  r.active_version = "v1";
  r.active_digest = crypto::Sha256Hex(EnvelopeFor("kws", "v1", 1));
  r.floor = 1;
  r.state = state;
  if (state != S::kIdle && state != S::kCommitted) {
    r.target_version = "v2";
    r.target_envelope = EnvelopeFor("kws", "v2", 2);
    r.target_digest = crypto::Sha256Hex(r.target_envelope);
  }
  return r;
}

}  // namespace

TEST_CASE("Driver: an update runs from offer to committed, persisting each state before its action", "[driver]") {
  Rig rig;
  auto cmds = rig.Offer("v1", 4);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0].action == A::kDownload);
  CHECK(rig.ports.saved.back().record.state == S::kDownloading);
  CHECK(cmds[0].record.target_version == "v1");
  CHECK(cmds[0].record.bytes_total == 100);
  auto c = rig.Step(cmds[0], E::kDownloaded);
  CHECK(c.action == A::kVerify);
  c = rig.Step(c, E::kVerified);
  CHECK(c.action == A::kInstall);
  c = rig.Step(c, E::kInstalled);
  CHECK(c.action == A::kActivate);
  rig.clock.Advance(7);
  c = rig.Step(c, E::kActivated);
  CHECK(c.action == A::kWatch);
  // Entry effect of probation, in the same write as the state.
  CHECK(rig.ports.saved.back().record.state == S::kProbation);
  CHECK(rig.ports.saved.back().record.probation_started_at == rig.clock.NowUnix());
  CHECK(rig.ports.outcomes.empty());
  c = rig.Step(c, E::kSoakPassed);
  CHECK(c.action == A::kCommit);
  // Committing is the write: active version, floor and the outcome together.
  const auto& last = rig.ports.saved.back();
  CHECK(last.record.state == S::kCommitted);
  CHECK(last.record.active_version == "v1");
  CHECK(last.record.active_security_version == 4);
  CHECK(last.record.floor == 4);
  REQUIRE(last.outcomes.size() == 1);
  CHECK(last.outcomes[0].outcome == "committed");
  CHECK(last.outcomes[0].version == "v1");
  // Every write happened before the command that followed it: one write per transition.
  CHECK(rig.ports.saved.size() == 6);
}

TEST_CASE("Driver: the commit raises the floor, and a version below it is refused", "[driver]") {
  Rig rig;
  rig.Commit("v5", 5);
  CHECK(rig.R().floor == 5);
  auto cmds = rig.Offer("v3", 3, 2);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0].action == A::kRestoreActive);
  CHECK(rig.R().state == S::kFailed);
  CHECK(rig.R().detail.find("below this device's anti-rollback floor 5") != std::string::npos);
  CHECK(rig.R().target_envelope.empty());  // a refusal
  CHECK(rig.ports.outcomes.back().outcome == "failed");
  // The controller re-sends its desired state: no second verdict, no second outcome.
  const auto outcomes = rig.ports.outcomes.size();
  CHECK(rig.Offer("v3", 3, 2).empty());
  CHECK(rig.ports.outcomes.size() == outcomes);
  // Re-offering what runs is nothing at all.
  CHECK(rig.Offer("v5", 5, 3).empty());
  CHECK(rig.R().state == S::kFailed);
}

TEST_CASE("Driver: a stale result of an abandoned step is dropped and the abandoned target gets an outcome",
          "[driver]") {
  Rig rig;
  rig.Commit("v1");
  auto first = rig.Offer("v2", 2, 2);
  REQUIRE(first.size() == 1);
  auto second = rig.Offer("v3", 3, 3);
  REQUIRE(second.size() == 1);
  CHECK(second[0].epoch > first[0].epoch);
  CHECK(rig.R().target_version == "v3");
  REQUIRE(rig.ports.saved.back().outcomes.size() == 1);
  CHECK(rig.ports.saved.back().outcomes[0].outcome == "abandoned");
  CHECK(rig.ports.saved.back().outcomes[0].version == "v2");
  CHECK(rig.ports.saved.back().outcomes[0].reason.find("replaced by v3") != std::string::npos);
  // v2's download finishes late: nothing happens.
  const auto writes = rig.ports.saved.size();
  CHECK(rig.driver.Complete("kws", first[0].epoch, E::kDownloaded).empty());
  CHECK(rig.driver.Complete("kws", first[0].epoch, E::kFailed, "late").empty());
  CHECK(rig.ports.saved.size() == writes);
  CHECK(rig.R().state == S::kDownloading);
  // The same target again while it is worked on: nothing, not even a verification.
  const int verified = rig.ports.verifications;
  CHECK(rig.Offer("v3", 3, 4).empty());
  CHECK(rig.ports.verifications == verified);
}

TEST_CASE("Driver: a refusal during probation ends the probation version and restores the active one", "[driver]") {
  Rig rig;
  rig.Commit("v1");
  auto watch = rig.ToProbation("v2", 2);
  rig.ports.refuse["v3"] = "signature by unknown key 'k9'";
  const auto before = rig.ports.outcomes.size();
  auto cmds = rig.Offer("v3", 3, 5);
  REQUIRE(cmds.size() == 1);
  CHECK(cmds[0].action == A::kRestoreActive);
  CHECK(cmds[0].record.active_version == "v1");
  CHECK(rig.R().state == S::kFailed);
  CHECK(rig.R().target_version == "v3");
  // One write: v2 abandoned, v3 failed; nothing left without an outcome.
  const auto& last = rig.ports.saved.back();
  REQUIRE(last.outcomes.size() == 2);
  CHECK(last.outcomes[0].version == "v2");
  CHECK(last.outcomes[0].outcome == "abandoned");
  CHECK(last.outcomes[1].version == "v3");
  CHECK(last.outcomes[1].outcome == "failed");
  CHECK(last.outcomes[1].reason == "refused v3: signature by unknown key 'k9'");
  CHECK(rig.ports.outcomes.size() == before + 2);
  // The watch's verdict arrives late: dropped.
  CHECK(rig.driver.Complete("kws", watch.epoch, E::kFailed, "p99").empty());
  // A refused envelope is re-checked later under a newer policy: it may then start.
  rig.ports.refuse.clear();
  auto retry = rig.Offer("v3", 3, 6);
  REQUIRE(retry.size() == 1);
  CHECK(retry[0].action == A::kDownload);
}

TEST_CASE("Driver: a version that fails on its own is not retried by itself", "[driver]") {
  Rig rig;
  rig.Commit("v1");
  auto watch = rig.ToProbation("v2", 2);
  auto back = rig.Step(watch, E::kFailed, "v2: probation: p99 900us over budget 500us");
  CHECK(back.action == A::kRollBack);
  CHECK(rig.R().state == S::kRollingBack);
  // A rollback cannot fail into another state; it is retried by its step until it is done.
  CHECK(rig.driver.Complete("kws", back.epoch, E::kFailed, "restore failed").empty());
  CHECK(rig.R().state == S::kRollingBack);
  auto rest = rig.Step(back, E::kRolledBack, rig.R().detail);
  CHECK(rest.action == A::kRestoreActive);
  CHECK(rig.R().state == S::kRolledBack);
  CHECK(rig.ports.outcomes.back().outcome == "rolled_back");
  CHECK(rig.ports.outcomes.back().reason.find("p99") != std::string::npos);
  CHECK(rig.Offer("v2", 2, 9).empty());  // the same envelope again: a verdict was given
}

TEST_CASE("Driver: a local install holds until a newer desired state", "[driver]") {
  Rig rig;
  rig.Commit("v1");
  auto local = rig.Offer("v7", 7, /*generation=*/4, /*local=*/true);
  REQUIRE(local.size() == 1);
  CHECK(rig.R().target_local);
  CHECK(rig.R().pinned_generation == 4);
  // The controller's desired state of generation 4 (or older) does not override it.
  CHECK(rig.Offer("v8", 8, 4).empty());
  CHECK(rig.Offer("v8", 8, 3).empty());
  CHECK(rig.R().target_version == "v7");
  // An operator deploys again (generation 5): the controller's target wins.
  auto next = rig.Offer("v8", 8, 5);
  REQUIRE(next.size() == 1);
  CHECK(rig.R().target_version == "v8");
  CHECK_FALSE(rig.R().target_local);
  CHECK(rig.ports.outcomes.back().version == "v7");
  CHECK(rig.ports.outcomes.back().outcome == "abandoned");
  CHECK(rig.ports.outcomes.back().local);
}

TEST_CASE("Driver: a failed write stops the action and the transition is retried", "[driver]") {
  Rig rig;
  auto cmds = rig.Offer("v1");
  REQUIRE(cmds.size() == 1);
  rig.ports.fail_saves = 1;
  CHECK(rig.driver.Complete("kws", cmds[0].epoch, E::kDownloaded).empty());
  CHECK(rig.R().state == S::kDownloading);  // unchanged in memory too
  CHECK(rig.driver.HasStalled());
  auto retried = rig.driver.RetryStalled();
  REQUIRE(retried.size() == 1);
  CHECK(retried[0].action == A::kVerify);
  CHECK(rig.R().state == S::kVerifying);
  CHECK_FALSE(rig.driver.HasStalled());
  // A failed write of a first offer leaves no half-made record behind.
  Rig fresh;
  fresh.ports.fail_saves = 1;
  CHECK(fresh.Offer("v1").empty());
  CHECK(fresh.driver.records().empty());
  REQUIRE(fresh.driver.RetryStalled().size() == 1);
  CHECK(fresh.driver.records().at("kws").state == S::kDownloading);
}

TEST_CASE("Driver: after a restart every state's entry action runs again", "[driver]") {
  for (S state : AllStates()) {
    INFO(StateName(state));
    Rig rig;
    REQUIRE(rig.driver.Load({InState(state)}));
    auto resumed = rig.driver.Resume();
    REQUIRE(resumed);
    if (state == S::kIdle) {
      CHECK(resumed->empty());
      continue;
    }
    REQUIRE(resumed->size() == 1);
    CHECK((*resumed)[0].action == ResumeAction(state));
    CHECK((*resumed)[0].epoch == rig.driver.Epoch("kws"));
    // The resumed step's result is accepted: the update carries on from where it was.
    if (state == S::kDownloading) {
      auto next = rig.driver.Complete("kws", (*resumed)[0].epoch, E::kDownloaded);
      REQUIRE(next.size() == 1);
      CHECK(next[0].action == A::kVerify);
    }
  }
}

TEST_CASE("Driver: a restart during probation is counted and persisted, and a failed write stops the start",
          "[driver]") {
  Rig rig;
  auto r = InState(S::kProbation);
  r.probation_restarts = 1;
  REQUIRE(rig.driver.Load({r}));
  auto resumed = rig.driver.Resume();
  REQUIRE(resumed);
  CHECK(rig.R().probation_restarts == 2);
  CHECK(rig.ports.saved.back().record.probation_restarts == 2);
  CHECK((*resumed)[0].record.probation_restarts == 2);

  Rig broken;
  broken.ports.fail_saves = 1;
  REQUIRE(broken.driver.Load({InState(S::kProbation)}));
  CHECK_FALSE(broken.driver.Resume());
}

TEST_CASE("Driver: two records for one model are a load error", "[driver]") {
  Rig rig;
  CHECK_FALSE(rig.driver.Load({InState(S::kIdle), InState(S::kCommitted)}));
}

TEST_CASE("Driver: under any sequence of events every update ends in exactly one outcome", "[driver]") {
  // Random offers, refusals and step results (current and stale) against the driver; afterwards
  // every target that was started or refused has exactly one outcome unless it is still in flight.
  std::mt19937 rng(20261204);
  for (int round = 0; round < 200; ++round) {
    Rig rig;
    std::vector<Command> issued;
    int next_version = 1;
    for (int step = 0; step < 40; ++step) {
      std::vector<Command> got;
      const int choice = static_cast<int>(rng() % 10);
      if (choice < 2) {
        const std::string v = "v" + std::to_string(next_version++);
        if (rng() % 4 == 0) rig.ports.refuse[v] = "bad signature";
        got = rig.Offer(v, static_cast<uint64_t>(next_version), static_cast<uint64_t>(step + 1));
      } else if (!issued.empty()) {
        // Mostly the latest command, sometimes a stale one.
        const auto& c = rng() % 5 == 0 ? issued[rng() % issued.size()] : issued.back();
        static const E kResults[] = {E::kDownloaded, E::kVerified, E::kInstalled, E::kActivated,
                                     E::kSoakPassed, E::kRolledBack, E::kFailed};
        E e = kResults[rng() % 7];
        // The step's own result is the likely one.
        if (rng() % 2 == 0) switch (c.action) {
            case A::kDownload: e = E::kDownloaded; break;
            case A::kVerify: e = E::kVerified; break;
            case A::kInstall: e = E::kInstalled; break;
            case A::kActivate: e = E::kActivated; break;
            case A::kWatch: e = E::kSoakPassed; break;
            case A::kRollBack: e = E::kRolledBack; break;
            default: break;
          }
        got = rig.driver.Complete(c.model, c.epoch, e, "x");
      }
      issued.insert(issued.end(), got.begin(), got.end());
    }
    std::map<std::string, int> ends;
    for (const auto& o : rig.ports.outcomes) ++ends[o.version];
    for (int v = 1; v < next_version; ++v) {
      const std::string version = "v" + std::to_string(v);
      const bool in_flight = !rig.driver.records().empty() && rig.R().target_version == version && IsBusy(rig.R().state);
      INFO("round " << round << " " << version);
      CHECK(ends[version] == (in_flight ? 0 : 1));
    }
  }
}

TEST_CASE("Report pacing: state changes soon but at most one per gap, periodic by busyness", "[driver]") {
  using namespace std::chrono_literals;
  ReportPacer pacer(200ms, 500ms, 30s);
  const ReportPacer::TimePoint t0 = ReportPacer::TimePoint{} + 1h;
  auto soon = pacer.StateChanged(t0);
  CHECK(soon.send_now);
  pacer.Sent(t0);
  // Changes inside the gap: one timer, at the end of the gap, however many changes.
  soon = pacer.StateChanged(t0 + 50ms);
  CHECK_FALSE(soon.send_now);
  CHECK(soon.schedule);
  CHECK(soon.at == t0 + 200ms);
  for (int i = 0; i < 100; ++i) {
    auto again = pacer.StateChanged(t0 + 60ms + std::chrono::milliseconds(i));
    CHECK_FALSE(again.send_now);
    CHECK_FALSE(again.schedule);
  }
  pacer.Fired();
  pacer.Sent(t0 + 200ms);
  CHECK_FALSE(pacer.StateChanged(t0 + 300ms).send_now);
  pacer.Fired();
  CHECK(pacer.StateChanged(t0 + 401ms).send_now);
  // Periodic: every 500 ms while busy, every 30 s otherwise.
  CHECK(pacer.PeriodicDue(t0, false));
  CHECK_FALSE(pacer.PeriodicDue(t0 + 10s, false));
  CHECK(pacer.PeriodicDue(t0 + 10s, true));
  CHECK_FALSE(pacer.PeriodicDue(t0 + 10s + 400ms, true));
  CHECK(pacer.PeriodicDue(t0 + 10s + 500ms, true));
  CHECK_FALSE(pacer.PeriodicDue(t0 + 39s, false));
  CHECK(pacer.PeriodicDue(t0 + 41s, false));
}

TEST_CASE("Driver: a new target whose write failed is not lost to a late result of the old step", "[driver]") {
  Rig rig;
  auto v1 = rig.Offer("v1");
  REQUIRE(v1.size() == 1);
  rig.ports.fail_saves = 1;
  CHECK(rig.Offer("v2", 2, 2).empty());  // stalled: the write failed
  CHECK(rig.driver.HasStalled());
  // v1's download finishes with the epoch still current: it must not run over the waiting v2.
  CHECK(rig.driver.Complete("kws", v1[0].epoch, E::kDownloaded).empty());
  CHECK(rig.R().state == S::kDownloading);
  auto retried = rig.driver.RetryStalled();
  REQUIRE(retried.size() == 1);
  CHECK(retried[0].action == A::kDownload);
  CHECK(rig.R().target_version == "v2");
  CHECK(rig.ports.outcomes.back().version == "v1");
  CHECK(rig.ports.outcomes.back().outcome == "abandoned");
}
