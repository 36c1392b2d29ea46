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
