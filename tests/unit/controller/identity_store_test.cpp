// The identity lifecycle in the store: renewal once per certificate, revocation and
// decommissioning with a deny list that outlives the device, tokens that can be revoked and
// never reveal their site, operators bound to roles with at least one admin, trust policies
// that only move forward, and tables a device cannot grow without bound.
#include <map>

#include <catch2/catch.hpp>

#include "controller/store/store.h"
#include "store_fixture.h"

using namespace edge;
using namespace edge::controller;
using namespace edge::controller::testing;

TEST_CASE("Store: a renewal works once per certificate and denies the replaced serial", "[store][identity]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  REQUIRE(f.store->RenewDeviceCert("gw-1", "serial-gw-1", "s2", kT0 + 999, kT0));
  auto denied = f.store->FindDeniedSerial("serial-gw-1");
  REQUIRE(denied);
  REQUIRE(*denied);
  CHECK((*denied)->reason == "renewed");
  CHECK((*denied)->identity == "device/gw-1");
  // A second holder of the old certificate cannot renew after the device did.
  auto again = f.store->RenewDeviceCert("gw-1", "serial-gw-1", "s3", kT0 + 999, kT0);
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kUnauthenticated);
  CHECK(f.store->GetDevice("gw-1")->cert_serial == "s2");
  CHECK(f.AuditFor("device.renew").size() == 1);
}

TEST_CASE("Store: revoking a device denies its serial, blocks renewal and is idempotent", "[store][identity]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  auto d = f.store->RevokeDevice("gw-1", "operator/admin", "stolen", kT0 + 1);
  REQUIRE(d);
  CHECK(d->revoked);
  CHECK((*f.store->FindDeniedSerial("serial-gw-1"))->reason == "revoked");
  REQUIRE(f.store->RevokeDevice("gw-1", "operator/admin", "", kT0 + 2));
  auto audits = f.AuditFor("device.revoke");
  REQUIRE(audits.size() == 1);
  CHECK_THAT(audits[0].detail, Catch::Contains("reason=stolen"));
  auto renew = f.store->RenewDeviceCert("gw-1", "serial-gw-1", "s2", kT0 + 999, kT0 + 3);
  REQUIRE_FALSE(renew);
  CHECK(renew.error().code == ErrorCode::kUnauthenticated);
  CHECK_FALSE(f.store->RevokeDevice("nope", "operator/admin", "", kT0));
}

TEST_CASE("Store: decommissioning removes the device and its rows, frees its name, keeps its serials denied",
          "[store][identity]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  f.ReportFloor("gw-1", 3);
  REQUIRE(f.store->RecordEvents("gw-1", {{1, "detector", "3.0", "committed", "", kT0, false, 0}}, kT0));
  REQUIRE(f.store->RenewDeviceCert("gw-1", "serial-gw-1", "s2", kT0 + 999, kT0));
  auto serials = f.store->DecommissionDevice("gw-1", "operator/admin", "replaced", kT0 + 5);
  REQUIRE(serials);
  CHECK(*serials == std::vector<std::string>{"serial-gw-1", "s2"});
  CHECK(f.store->GetDevice("gw-1").error().code == ErrorCode::kNotFound);
  CHECK(f.store->ListEvents("gw-1", 10)->empty());
  CHECK(f.store->DeviceModels("gw-1")->empty());
  CHECK((*f.store->FindDeniedSerial("s2"))->reason == "decommissioned");
  // The name enrolls again with a new token.
  f.Token("hash-new", "plant-7", 3600);
  DeviceRecord d;
  d.id = "gw-1";
  d.cert_serial = "s9";
  REQUIRE(f.store->EnrollDevice("hash-new", d, kT0 + 6));
  CHECK(f.AuditFor("device.decommission").size() == 1);
}

TEST_CASE("Store: a taken name says how to replace the gateway", "[store][identity]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  f.Token("hash-2", "plant-7", 3600);
  auto taken = f.store->CheckEnrollment("hash-2", "gw-1", kT0);
  REQUIRE_FALSE(taken);
  CHECK(taken.error().code == ErrorCode::kAlreadyExists);
  CHECK_THAT(taken.error().message, Catch::Contains("edgectl decommission device gw-1"));
}

TEST_CASE("Store: token errors never name the token's site and revoked tokens are refused", "[store][identity][token]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("secret-site");
  f.Token("hash-a", "secret-site", 3600);
  f.Token("hash-b", "secret-site", 10);
  f.Enroll("gw-1", "secret-site");  // uses its own token
  DeviceRecord d;
  d.id = "gw-2";
  REQUIRE(f.store->EnrollDevice("hash-a", d, kT0));
  for (const auto& [hash, now] : {std::pair{"hash-a", kT0}, {"hash-b", kT0 + 11}, {"hash-none", kT0}}) {
    auto r = f.store->CheckEnrollment(hash, "gw-3", now);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == ErrorCode::kPermissionDenied);
    CHECK_THAT(r.error().message, !Catch::Contains("secret-site"));
  }
  f.Token("hash-c", "secret-site", 3600);
  auto listed = f.store->ListTokens("", false, kT0);
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);  // hash-b (unused) and hash-c
  const std::string id_c = std::string("hash-c").substr(0, 16);
  auto revoked = f.store->RevokeToken(id_c, "operator/admin", "", kT0 + 1);
  REQUIRE(revoked);
  CHECK(revoked->state == "revoked");
  auto refused = f.store->CheckEnrollment("hash-c", "gw-3", kT0 + 2);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("not valid"));
  auto all = f.store->ListTokens("secret-site", true, kT0 + 20);
  REQUIRE(all);
  std::map<std::string, std::string> states;
  for (const auto& t : *all) states[t.used_by.empty() ? t.id : t.used_by] = t.state;
  CHECK(states["gw-2"] == "used");
  CHECK(states["hash-b"] == "expired");
  CHECK(states[id_c] == "revoked");
  auto used = f.store->RevokeToken("hash-a", "operator/admin", "", kT0);
  REQUIRE_FALSE(used);
  CHECK_THAT(used.error().message, Catch::Contains("decommission device gw-2"));
  CHECK(f.store->RevokeToken("0000000000000000", "operator/admin", "", kT0).error().code == ErrorCode::kNotFound);
}

TEST_CASE("Store: operators have roles, the first admin is bound once, the last admin stays", "[store][identity][roles]") {
  EDGE_STORE_FIXTURE(f);
  REQUIRE(f.store->EnsureInitialAdmin("admin", kT0).value());
  CHECK_FALSE(f.store->EnsureInitialAdmin("someone-else", kT0).value());
  CHECK(f.store->GetOperator("admin").value()->role == "admin");
  CHECK_FALSE(f.store->GetOperator("someone-else").value());
  REQUIRE(f.store->AddOperator("alice", "viewer", "operator/admin", kT0));
  CHECK(f.store->AddOperator("alice", "admin", "operator/admin", kT0).error().code == ErrorCode::kAlreadyExists);
  CHECK(f.store->AddOperator("bob", "root", "operator/admin", kT0).error().code == ErrorCode::kInvalidArgument);
  auto last = f.store->SetOperatorRole("admin", "viewer", "operator/admin", kT0);
  REQUIRE_FALSE(last);
  CHECK_THAT(last.error().message, Catch::Contains("last admin"));
  CHECK(f.store->RevokeOperator("admin", "operator/admin", "", kT0).error().code == ErrorCode::kFailedPrecondition);
  REQUIRE(f.store->SetOperatorRole("alice", "admin", "operator/admin", kT0));
  REQUIRE(f.store->TouchOperator("admin", "op-serial-1", kT0 + 1));
  auto revoked = f.store->RevokeOperator("admin", "operator/alice", "left", kT0 + 2);
  REQUIRE(revoked);
  CHECK(revoked->revoked);
  CHECK((*f.store->FindDeniedSerial("op-serial-1"))->identity == "operator/admin");
  CHECK(f.store->SetOperatorRole("admin", "admin", "operator/alice", kT0).error().code == ErrorCode::kFailedPrecondition);
  CHECK(f.store->ListOperators()->size() == 2);
  CHECK(f.AuditFor("operator.revoke").size() == 1);
}

TEST_CASE("Store: trust policies only move forward", "[store][identity][trust]") {
  EDGE_STORE_FIXTURE(f);
  CHECK_FALSE(f.store->LatestTrustPolicy().value());
  REQUIRE(f.store->AddTrustPolicy({2, "env-v2", "operator/admin", kT0}));
  CHECK(f.store->AddTrustPolicy({2, "env-v2b", "operator/admin", kT0}).error().code == ErrorCode::kFailedPrecondition);
  CHECK(f.store->AddTrustPolicy({1, "env-v1", "operator/admin", kT0}).error().code == ErrorCode::kFailedPrecondition);
  REQUIRE(f.store->AddTrustPolicy({3, "env-v3", "operator/admin", kT0}));
  CHECK(f.store->LatestTrustPolicy().value()->envelope == "env-v3");
}

TEST_CASE("Store: update events and audit rows are pruned to their bounds", "[store][bounds]") {
  StoreOptions options;
  options.events_per_device = 5;
  options.audit_rows = 10;
  EDGE_STORE_FIXTURE(f, options);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  std::vector<UpdateEventRecord> events;
  for (uint64_t seq = 1; seq <= 12; ++seq) events.push_back({seq, "detector", "1.0", "failed", "x", kT0, false, 0});
  auto recorded = f.store->RecordEvents("gw-1", events, kT0);
  REQUIRE(recorded);
  CHECK(recorded->max_seq == 12);
  auto kept = f.store->ListEvents("gw-1", 100);
  REQUIRE(kept->size() == 5);
  CHECK(kept->front().seq == 12);
  CHECK(kept->back().seq == 8);
  for (int i = 0; i < 30; ++i) REQUIRE(f.store->Audit({0, kT0 + i, "device/gw-1", "device.renew", "device/gw-1", ""}));
  auto audit = f.store->ListAudit({1000, "", "", ""});
  REQUIRE(audit->size() == 10);
  CHECK(audit->front().at == kT0 + 29);
}

TEST_CASE("Store: a device cannot report more than 64 models", "[store][bounds]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  f.Enroll("gw-1", "plant-7");
  std::vector<ReportedModelRecord> models;
  for (int i = 0; i < 64; ++i) models.push_back({"m" + std::to_string(i), "1", 0, "committed", "", "", 0, 0, 0, 0});
  REQUIRE(f.store->RecordReport("gw-1", models, kT0));
  REQUIRE(f.store->RecordReport("gw-1", {models[3]}, kT0 + 1));  // an update of a known one is fine
  auto more = f.store->RecordReport("gw-1", {{"m64", "1", 0, "committed", "", "", 0, 0, 0, 0}}, kT0 + 2);
  REQUIRE_FALSE(more);
  CHECK(more.error().code == ErrorCode::kResourceExhausted);
  CHECK(f.store->DeviceModels("gw-1")->size() == 64);
}

TEST_CASE("Store: a site is deleted only once nothing uses it, and its dead tokens go with it", "[store][identity][site]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("plant-7");
  CHECK(f.store->DeleteSite("nope", "operator/admin", "", kT0).error().code == ErrorCode::kNotFound);
  // A device, even revoked, keeps the site.
  f.Enroll("gw-1", "plant-7");  // uses token hash-gw-1
  REQUIRE(f.store->RevokeDevice("gw-1", "operator/admin", "", kT0));
  auto in_use = f.store->DeleteSite("plant-7", "operator/admin", "", kT0);
  REQUIRE_FALSE(in_use);
  CHECK(in_use.error().code == ErrorCode::kFailedPrecondition);
  CHECK_THAT(in_use.error().message, Catch::Contains("gw-1 (revoked)") && Catch::Contains("edgectl delete device gw-1"));
  REQUIRE(f.store->DecommissionDevice("gw-1", "operator/admin", "", kT0));
  // An unused token could still enroll a device into it.
  f.Token("hash-unused-token", "plant-7", 3600);
  auto token = f.store->DeleteSite("plant-7", "operator/admin", "", kT0);
  REQUIRE_FALSE(token);
  CHECK_THAT(token.error().message, Catch::Contains("edgectl delete token hash-unused-toke"));
  REQUIRE(f.store->RevokeToken("hash-unused-toke", "operator/admin", "", kT0));
  // A live rollout that names it would take any device that joins it.
  f.Version("3.0", 3);
  const auto created = f.SiteRollout("plant-7", "3.0", "operator/admin", kT0);
  auto targeted = f.store->DeleteSite("plant-7", "operator/admin", "", kT0);
  REQUIRE_FALSE(targeted);
  CHECK_THAT(targeted.error().message, Catch::Contains("edgectl rollout abort " + std::to_string(created.id)));
  rollout::Step abort;
  abort.rollout = created;
  abort.rollout.state = rollout::State::kAborted;
  abort.changed = true;
  REQUIRE(f.store->SaveRolloutStep(abort, "", "", kT0));
  CHECK(f.AuditFor("site.delete").empty());  // no refusal wrote a row

  auto deleted = f.store->DeleteSite("plant-7", "operator/admin", "typo", kT0 + 1);
  REQUIRE(deleted);
  CHECK(deleted->site.name == "plant-7");
  CHECK(deleted->removed_tokens == std::vector<std::string>{"hash-gw-1", "hash-unused-toke"});
  CHECK_FALSE(f.store->SiteExists("plant-7").value());
  auto audit = f.AuditFor("site.delete");
  REQUIRE(audit.size() == 1);
  CHECK(audit[0].detail == "tokens_removed=hash-gw-1,hash-unused-toke reason=typo");
  // Deleted twice: not found. The name can be created again.
  CHECK(f.store->DeleteSite("plant-7", "operator/admin", "", kT0 + 2).error().code == ErrorCode::kNotFound);
  f.Site("plant-7");
}
