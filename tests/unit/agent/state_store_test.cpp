#include "agent/store/state_store.h"

#include <catch2/catch.hpp>

#include "core/temp_dir.h"

using namespace edge::agent;
using edge::testing::TempDir;

namespace {

ModelRecord Sample() {
  ModelRecord r;
  r.model = "detector";
  r.active_version = "1.0";
  r.active_digest = std::string(64, 'a');
  r.active_security_version = 3;
  r.floor = 3;
  r.state = UpdateState::kVerifying;
  r.target_version = "2.0";
  r.target_digest = std::string(64, 'b');
  r.target_envelope = std::string("{\"payload\":\"\x00\xff\"}", 16);
  r.detail = "it's \"quoted\"; DROP TABLE models;--";
  r.bytes_done = 1234;
  r.bytes_total = 5678;
  r.updated_at = 1700000000;
  r.probation_started_at = 1700000100;
  r.probation_restarts = 2;
  r.target_local = true;
  r.pinned_generation = 42;
  return r;
}

void CheckSame(const ModelRecord& a, const ModelRecord& b) {
  CHECK(a.model == b.model);
  CHECK(a.active_version == b.active_version);
  CHECK(a.active_digest == b.active_digest);
  CHECK(a.active_security_version == b.active_security_version);
  CHECK(a.floor == b.floor);
  CHECK(a.state == b.state);
  CHECK(a.target_version == b.target_version);
  CHECK(a.target_digest == b.target_digest);
  CHECK(a.target_envelope == b.target_envelope);
  CHECK(a.detail == b.detail);
  CHECK(a.probation_started_at == b.probation_started_at);
  CHECK(a.probation_restarts == b.probation_restarts);
  CHECK(a.target_local == b.target_local);
  CHECK(a.pinned_generation == b.pinned_generation);
  CHECK(a.bytes_done == b.bytes_done);
  CHECK(a.bytes_total == b.bytes_total);
  CHECK(a.updated_at == b.updated_at);
}

StateStore OpenOk(const std::filesystem::path& path) {
  auto s = StateStore::Open(path.string());
  REQUIRE(s);
  return std::move(*s);
}

}  // namespace

TEST_CASE("StateStore saves and loads a model record", "[state_store]") {
  TempDir dir;
  StateStore store = OpenOk(dir / "state.db");
  CHECK_FALSE(store.LoadModel("detector").value().has_value());
  CHECK(store.LoadModels().value().empty());
  REQUIRE(store.SaveModel(Sample()));
  auto loaded = store.LoadModel("detector");
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  CheckSame(**loaded, Sample());
}

TEST_CASE("StateStore SaveModel replaces the row for the same model", "[state_store]") {
  TempDir dir;
  StateStore store = OpenOk(dir / "state.db");
  REQUIRE(store.SaveModel(Sample()));
  ModelRecord next = Sample();
  next.state = UpdateState::kCommitted;
  next.active_version = "2.0";
  next.target_envelope.clear();
  REQUIRE(store.SaveModel(next));
  ModelRecord other = Sample();
  other.model = "classifier";
  REQUIRE(store.SaveModel(other));
  auto all = store.LoadModels();
  REQUIRE(all);
  REQUIRE(all->size() == 2);
  CHECK((*all)[0].model == "classifier");  // ordered by name
  CheckSame((*all)[1], next);
}

TEST_CASE("StateStore every state survives a save and load", "[state_store]") {
  TempDir dir;
  StateStore store = OpenOk(dir / "state.db");
  for (auto s : {UpdateState::kIdle, UpdateState::kDownloading, UpdateState::kVerifying, UpdateState::kStaged,
                 UpdateState::kActivating, UpdateState::kCommitted, UpdateState::kFailed}) {
    ModelRecord r = Sample();
    r.state = s;
    REQUIRE(store.SaveModel(r));
    CHECK(store.LoadModel("detector").value()->state == s);
  }
}

TEST_CASE("StateStore meta get and set", "[state_store]") {
  TempDir dir;
  StateStore store = OpenOk(dir / "state.db");
  CHECK_FALSE(store.GetMeta("device_id").value().has_value());
  REQUIRE(store.SetMeta("device_id", "edge-01"));
  CHECK(store.GetMeta("device_id").value() == std::optional<std::string>("edge-01"));
  const std::string binary("\x00\x01\x02\xff", 4);
  REQUIRE(store.SetMeta("device_id", binary));
  CHECK(store.GetMeta("device_id").value() == std::optional<std::string>(binary));
}

TEST_CASE("StateStore persists across reopen", "[state_store]") {
  TempDir dir;
  const auto path = dir / "state.db";
  {
    StateStore store = OpenOk(path);
    REQUIRE(store.SaveModel(Sample()));
    REQUIRE(store.SetMeta("enrolled", "yes"));
  }
  StateStore store = OpenOk(path);
  auto loaded = store.LoadModel("detector");
  REQUIRE(loaded);
  REQUIRE(loaded->has_value());
  CheckSame(**loaded, Sample());
  CHECK(store.GetMeta("enrolled").value() == std::optional<std::string>("yes"));
}

TEST_CASE("StateStore Open fails with a message naming a bad path", "[state_store]") {
  TempDir dir;
  const auto path = dir / "missing-dir" / "state.db";
  auto s = StateStore::Open(path.string());
  REQUIRE_FALSE(s);
  CHECK_THAT(s.error().message, Catch::Contains(path.string()));
}

TEST_CASE("An outcome is stored with its state and kept until acknowledged", "[state_store]") {
  TempDir dir;
  const auto path = (dir.path() / "state.db").string();
  {
    auto store = StateStore::Open(path);
    REQUIRE(store);
    auto r = Sample();
    r.state = UpdateState::kRolledBack;
    OutcomeEvent ev{0, r.model, r.target_version, "rolled_back", "self-test case 0 mismatched", 1700000200, true};
    REQUIRE(store->SaveModel(r, {ev}));
    ev.version = "3.0";
    ev.outcome = "committed";
    ev.reason = "";
    REQUIRE(store->SaveModel(r, {ev}));
  }
  // Reopened: both outcomes survive, in order, with increasing sequence numbers.
  auto store = StateStore::Open(path);
  REQUIRE(store);
  auto pending = store->PendingOutcomes(10);
  REQUIRE(pending);
  REQUIRE(pending->size() == 2);
  CHECK((*pending)[0].outcome == "rolled_back");
  CHECK((*pending)[0].reason == "self-test case 0 mismatched");
  CHECK((*pending)[0].local);
  CHECK((*pending)[1].version == "3.0");
  CHECK((*pending)[1].seq > (*pending)[0].seq);
  REQUIRE(store->AckOutcomes((*pending)[0].seq));
  auto left = store->PendingOutcomes(10);
  REQUIRE(left);
  REQUIRE(left->size() == 1);
  CHECK(left->front().outcome == "committed");
  // Sequence numbers are never reused, even after every outcome was acknowledged.
  REQUIRE(store->AckOutcomes(left->front().seq));
  auto r = Sample();
  OutcomeEvent ev{0, r.model, "4.0", "failed", "refused", 1700000300, false};
  REQUIRE(store->SaveModel(r, {ev}));
  auto last = store->PendingOutcomes(10);
  REQUIRE(last);
  REQUIRE(last->size() == 1);
  CHECK(last->front().seq > (*pending)[1].seq);
}

TEST_CASE("StateStore refuses a record it cannot read instead of guessing", "[state_store]") {
  TempDir dir;
  const auto path = dir / "state.db";
  {
    auto store = OpenOk(path);
    REQUIRE(store.SaveModel(Sample()));
  }
  SECTION("an unknown update state") {
    auto db = edge::sqlite::Db::Open(path);
    REQUIRE(db);
    REQUIRE(db->Exec("UPDATE models SET state = 'exploding'"));
  }
  SECTION("a busy state without its target envelope") {
    auto db = edge::sqlite::Db::Open(path);
    REQUIRE(db);
    REQUIRE(db->Exec("UPDATE models SET target_envelope = ''"));
  }
  auto store = OpenOk(path);
  auto loaded = store.LoadModels();
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code == edge::ErrorCode::kDataLoss);
  CHECK(loaded.error().message.find("detector") != std::string::npos);
  CHECK_FALSE(store.LoadModel("detector"));
}

TEST_CASE("StateStore writes several outcomes with the record in one transaction", "[state_store]") {
  TempDir dir;
  auto store = OpenOk(dir / "state.db");
  ModelRecord r = Sample();
  r.state = UpdateState::kFailed;
  OutcomeEvent abandoned{0, "detector", "2.0", "abandoned", "replaced by 3.0 (refused) before it ended", 1, false};
  OutcomeEvent failed{0, "detector", "3.0", "failed", "refused 3.0: bad signature", 1, false};
  REQUIRE(store.SaveModel(r, {abandoned, failed}));
  auto pending = store.PendingOutcomes(10);
  REQUIRE(pending);
  REQUIRE(pending->size() == 2);
  CHECK((*pending)[0].outcome == "abandoned");
  CHECK((*pending)[1].outcome == "failed");
  CHECK((*pending)[0].seq < (*pending)[1].seq);
}
