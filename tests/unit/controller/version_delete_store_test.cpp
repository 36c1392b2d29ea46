// DeleteVersion: each thing that still needs a version refuses the delete and names the command
// that frees it; a version nothing needs goes with exactly the blob rows no other version shares;
// finished rollouts that named it stay readable.
#include <catch2/catch.hpp>

#include "common/sqlite/db.h"
#include "controller/store/rollout_json.h"
#include "controller/store/store.h"
#include "store_fixture.h"

using namespace edge::controller;
using edge::ErrorCode;
using edge::controller::testing::Fixture;
using edge::controller::testing::kT0;

namespace {

// A version of detector whose model blob is its own and whose labels blob is `labels_digest`
// (the same digest in two versions is one shared blob).
VersionRecord AddVersion(Fixture& f, const std::string& version, const std::string& labels_digest) {
  VersionRecord v;
  v.model = "detector";
  v.version = version;
  v.security_version = 1;
  v.manifest_digest = "manifest-" + version;
  v.envelope = "envelope of " + version;
  v.total_bytes = 300;
  v.signed_by = "release-1";
  v.pushed_by = "op/admin";
  v.blobs = {{"model-" + version, "model", 200}, {labels_digest, "labels", 100}};
  REQUIRE(f.store->AddVersion(v, f.clock.NowUnix()));
  return v;
}

edge::Error Refusal(Fixture& f, const std::string& version) {
  auto r = f.store->DeleteVersion("detector", version, "op/admin", "", kT0);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kFailedPrecondition);
  CHECK_THAT(r.error().message, Catch::StartsWith("model detector:" + version + " is still needed: "));
  CHECK(f.store->GetVersion("detector", version));  // still there
  return r.error();
}

// Persists `rollout` as it is now (state, device rows), as the rollout driver's steps do.
void Save(Fixture& f, rollout::Rollout rollout) {
  for (auto& d : rollout.devices) d.dirty = true;
  // Over the stored revision: this test changes the rollout as a planner that read it would.
  auto stored = f.store->GetRollout(rollout.id);
  REQUIRE(stored);
  rollout.revision = stored->revision;
  rollout::Step step;
  step.rollout = std::move(rollout);
  step.changed = true;
  REQUIRE(f.store->SaveRolloutStep(step, "", "", f.clock.NowUnix()));
}

rollout::DeviceRow Moved(const std::string& device, rollout::DeviceState state, const std::string& from) {
  rollout::DeviceRow row;
  row.id = device;
  row.site = "plant-7";
  row.state = state;
  row.from_version = from;
  return row;
}

rollout::Rollout SavedRollout(Fixture& f, int64_t id) {
  auto r = f.store->GetRollout(id);
  REQUIRE(r);
  return *r;
}

}  // namespace

TEST_CASE("DeleteVersion: an unknown version is kNotFound and changes nothing", "[store][versions][delete]") {
  EDGE_STORE_FIXTURE(f);
  AddVersion(f, "1.0", "labels-1");
  auto r = f.store->DeleteVersion("detector", "9.9", "op/admin", "", kT0);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kNotFound);
  CHECK_THAT(r.error().message, Catch::Contains("detector:9.9"));
  CHECK(f.AuditFor("model.delete").empty());
}

TEST_CASE("DeleteVersion: refused while a device has it as its desired version", "[store][versions][delete]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  AddVersion(f, "1.0", "labels-1");
  f.Desire({"gw-1"}, "1.0");
  auto rollouts = f.store->ListRollouts(true, 10);
  REQUIRE(rollouts);
  auto live = f.store->GetRollout(rollouts->front().id).value();  // the list leaves the rows out
  live.state = rollout::State::kAborted;  // so that only the desired state holds it
  Save(f, live);
  auto e = Refusal(f, "1.0");
  CHECK_THAT(e.message, Catch::Contains("1 device(s) have it as their desired version, e.g. gw-1"));
  CHECK_THAT(e.message, Catch::Contains("edgectl deploy model detector:VERSION --device gw-1"));
  CHECK_THAT(e.message, Catch::Contains("edgectl delete device gw-1"));
}

TEST_CASE("DeleteVersion: refused while a device reports running or installing it", "[store][versions][delete]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  AddVersion(f, "1.0", "labels-1");
  AddVersion(f, "2.0", "labels-2");
  ReportedModelRecord m;
  m.model = "detector";
  m.version = "1.0";
  m.state = "staged";
  m.target_version = "2.0";
  REQUIRE(f.store->RecordReport("gw-1", {m}, kT0));
  CHECK_THAT(Refusal(f, "1.0").message, Catch::Contains("device gw-1 reports running it (staged)"));
  CHECK_THAT(Refusal(f, "2.0").message, Catch::Contains("device gw-1 reports it as staged"));

  // An install of 2.0 that failed does not hold 2.0; the version it still runs holds 1.0.
  m.state = "failed";
  REQUIRE(f.store->RecordReport("gw-1", {m}, kT0 + 1));
  CHECK(f.store->DeleteVersion("detector", "2.0", "op/admin", "", kT0 + 2));
  Refusal(f, "1.0");
}

TEST_CASE("DeleteVersion: refused while a running, paused, completed or reverting rollout uses it",
          "[store][versions][delete][rollouts]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  AddVersion(f, "1.0", "labels-1");
  auto r = f.SiteRollout("plant-7", "1.0", "op/admin", kT0);
  const std::string id = std::to_string(r.id);
  for (auto state : {rollout::State::kRunning, rollout::State::kPaused, rollout::State::kCompleted}) {
    r.state = state;
    Save(f, r);
    auto e = Refusal(f, "1.0");
    CHECK_THAT(e.message, Catch::Contains("rollout " + id + " (" + std::string(rollout::Name(state)) + ")"));
    CHECK_THAT(e.message, Catch::Contains("edgectl rollout abort " + id));
  }
  CHECK_THAT(Refusal(f, "1.0").message, Catch::Contains("a device that joins it gets this version"));

  // A rollout of 2.0 reverting devices to 1.0 holds 1.0 until the revert ends.
  r.state = rollout::State::kAborted;
  Save(f, r);
  AddVersion(f, "2.0", "labels-2");
  auto revert = f.SiteRollout("plant-7", "2.0", "op/admin", kT0 + 1);
  revert.state = rollout::State::kReverting;
  revert.devices = {Moved("gw-gone", rollout::DeviceState::kReverting, "1.0")};  // rows outlive devices
  Save(f, revert);
  auto e = Refusal(f, "1.0");
  CHECK_THAT(e.message, Catch::Contains("rollout " + std::to_string(revert.id) + " (reverting)"));
  CHECK_THAT(e.message, Catch::Contains("a revert sends them back to it"));
  CHECK_THAT(e.message, Catch::Contains("edgectl rollout watch " + std::to_string(revert.id)));
}

TEST_CASE("DeleteVersion: refused while it is where a device would roll back to", "[store][versions][delete]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  AddVersion(f, "1.0", "labels-1");
  AddVersion(f, "2.0", "labels-2");
  f.Desire({"gw-1"}, "2.0");
  auto r = SavedRollout(f, f.store->ListRollouts(true, 1)->front().id);
  r.devices = {Moved("gw-1", rollout::DeviceState::kUpdated, "1.0")};
  r.state = rollout::State::kAborted;  // ended: only the device's previous version is left
  Save(f, r);
  auto e = Refusal(f, "1.0");
  CHECK_THAT(e.message, Catch::Contains("device gw-1 would roll back to it (rollout " + std::to_string(r.id) +
                                        " moved it from this version to 2.0)"));
}

TEST_CASE("DeleteVersion: removes the version and only the blob rows no other version references",
          "[store][versions][delete][blobs]") {
  EDGE_STORE_FIXTURE(f);
  AddVersion(f, "1.0", "labels-shared");
  AddVersion(f, "2.0", "labels-shared");
  auto deleted = f.store->DeleteVersion("detector", "1.0", "op/admin", "superseded", kT0 + 5);
  REQUIRE(deleted);
  CHECK(deleted->version.version == "1.0");
  CHECK(deleted->version.blobs.size() == 2);
  CHECK(deleted->unreferenced_blobs == std::vector<std::string>{"model-1.0"});
  CHECK(deleted->shared_blobs == std::vector<std::string>{"labels-shared"});
  CHECK_FALSE(f.store->HasBlob("model-1.0").value());
  CHECK(f.store->HasBlob("labels-shared").value());
  CHECK(f.store->GetVersion("detector", "1.0").error().code == ErrorCode::kNotFound);
  REQUIRE(f.store->ListVersions()->size() == 1);

  auto audit = f.AuditFor("model.delete");
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].actor == "op/admin");
  CHECK(audit[0].target == "model/detector:1.0");
  CHECK(audit[0].detail == "security_version=1 blobs_removed=1 blobs_shared=1 reason=superseded");

  // The last version that had the shared blob takes it along.
  auto last = f.store->DeleteVersion("detector", "2.0", "op/admin", "", kT0 + 6);
  REQUIRE(last);
  CHECK(last->unreferenced_blobs == std::vector<std::string>{"labels-shared", "model-2.0"});
  CHECK(last->shared_blobs.empty());
  CHECK_FALSE(f.store->HasBlob("labels-shared").value());

  // Pushed again, the version is new again (its blobs are recorded again).
  AddVersion(f, "1.0", "labels-shared");
  CHECK(f.store->HasBlob("labels-shared").value());
}

TEST_CASE("DeleteVersion: a finished rollout that deployed it stays readable", "[store][versions][delete][rollouts]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  AddVersion(f, "1.0", "labels-1");
  auto r = f.SiteRollout("plant-7", "1.0", "op/admin", kT0);
  r.state = rollout::State::kAborted;
  r.reason = "wrong model";
  Save(f, r);
  REQUIRE(f.store->DeleteVersion("detector", "1.0", "op/admin", "", kT0 + 1));
  auto kept = f.store->GetRollout(r.id);
  REQUIRE(kept);
  CHECK(kept->version == "1.0");
  CHECK(kept->reason == "wrong model");
  auto all = f.store->ListRollouts(true, 10);
  REQUIRE(all);
  REQUIRE(all->size() == 1);
  CHECK(all->front().id == r.id);
  if (!f.db.postgres()) {  // PostgreSQL checks every reference as it is written
    auto db = edge::sqlite::Db::Open(f.db.path());
    REQUIRE(db);
    auto fk = db->Prepare("PRAGMA foreign_key_check");
    REQUIRE(fk);
    CHECK_FALSE(fk->Step().value());  // no row references what is gone
  }
}

TEST_CASE("Store: a schema-6 database keeps its rollouts, their rows and their ids through migration 7",
          "[store][sqlite][rollouts][migrations]") {
  edge::testing::TempDir dir;
  const auto path = (dir / "controller.db").string();
  {
    auto db = edge::sqlite::Db::Open(path);
    REQUIRE(db);
    REQUIRE(db->Migrate(Migrations().first(6)));
    REQUIRE(db->Exec(
        "INSERT INTO models(name, created_at) VALUES ('detector', 1);"
        "INSERT INTO model_versions(model, version, security_version, manifest_digest, envelope, total_bytes, signed_by, "
        "pushed_by, pushed_at) VALUES ('detector', '1.0', 1, 'm', x'00', 1, 'k', 'op', 1);"));
    for (const char* state : {"aborted", "completed"}) {
      auto ins = db->Prepare(
          "INSERT INTO rollouts(model, version, security_version, target_json, strategy_json, state, wave, waves_json, "
          "reason, created_by, created_at, updated_at) VALUES ('detector', '1.0', 1, ?, ?, ?, 0, ?, ?, 'op', 1, 1)");
      REQUIRE(ins);
      rollout::Target target;
      target.sites = {"plant-7"};
      ins->Bind(1, TargetToJson(target)).Bind(2, StrategyToJson(rollout::AllAtOnce())).Bind(3, std::string(state))
          .Bind(4, WavesToJson({})).Bind(5, std::string(state) == "aborted" ? "old" : "");
      REQUIRE(ins->Run());
    }
    REQUIRE(db->Exec(
        "INSERT INTO rollout_devices(rollout_id, device_id, site, state, wave, from_version, dispatched_at, done_at, "
        "dispatches, detail) VALUES (1, 'gw-1', 'plant-7', 'updated', 0, '0.9', 1, 1, 1, '');"
        "INSERT INTO rollout_events(rollout_id, at, kind, device_id, detail) VALUES (1, 1, 'created', '', ''), "
        "(2, 2, 'created', '', '');"
        "DELETE FROM rollout_events WHERE id = 2;"));  // the counter stays above the rows left
  }
  auto store = OpenSqliteStore(path);
  REQUIRE(store);
  CHECK(edge::sqlite::Db::Open(path)->SchemaVersion().value() == static_cast<int>(Migrations().size()));
  auto all = (*store)->ListRollouts(true, 10);
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  auto first = (*store)->GetRollout(1);
  REQUIRE(first);
  CHECK(first->reason == "old");
  REQUIRE(first->devices.size() == 1);
  CHECK(first->devices[0].from_version == "0.9");
  auto db = edge::sqlite::Db::Open(path);
  REQUIRE(db);
  auto seq = db->Prepare("SELECT name, seq FROM sqlite_sequence WHERE name IN ('rollouts', 'rollout_events') ORDER BY name");
  REQUIRE(seq);
  REQUIRE(seq->Step().value());
  CHECK(seq->Text(0) == "rollout_events");
  CHECK(seq->Int(1) == 2);
  REQUIRE(seq->Step().value());
  CHECK(seq->Int(1) == 2);
  auto fk = db->Prepare("PRAGMA foreign_key_check");
  REQUIRE(fk);
  CHECK_FALSE(fk->Step().value());
}
