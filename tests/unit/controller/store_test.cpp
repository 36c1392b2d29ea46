#include "controller/store/store.h"

#include <catch2/catch.hpp>

#include "store_fixture.h"

using namespace edge::controller;
using edge::ErrorCode;

using edge::controller::testing::Fixture;
using edge::controller::testing::kT0;

TEST_CASE("Store: create and list sites, a duplicate is kAlreadyExists", "[store]") {
  EDGE_STORE_FIXTURE(f);
  auto s = f.store->CreateSite("factory-1", "op/admin", kT0);
  REQUIRE(s);
  CHECK(s->name == "factory-1");
  CHECK(s->created_at == kT0);
  CHECK(f.store->SiteExists("factory-1").value());
  CHECK_FALSE(f.store->SiteExists("factory-2").value());

  auto dup = f.store->CreateSite("factory-1", "op/admin", kT0 + 1);
  REQUIRE_FALSE(dup);
  CHECK(dup.error().code == ErrorCode::kAlreadyExists);
  CHECK_THAT(dup.error().message, Catch::Contains("'factory-1' already exists"));

  auto sites = f.store->ListSites();
  REQUIRE(sites);
  REQUIRE(sites->size() == 1);
  CHECK((*sites)[0].created_at == kT0);
  CHECK(f.AuditFor("site.create").size() == 1);  // the failed duplicate left no audit row
}

TEST_CASE("Store: a token for an unknown site is kNotFound", "[store][token]") {
  EDGE_STORE_FIXTURE(f);
  auto s = f.store->CreateToken({"h", "nowhere", "op/admin", kT0, kT0 + 60}, "op/admin");
  REQUIRE_FALSE(s);
  CHECK(s.error().code == ErrorCode::kNotFound);
  CHECK_THAT(s.error().message, Catch::Contains("'nowhere'"));
}

TEST_CASE("Store: a valid token enrolls a device and is consumed", "[store][token]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Token("h1", "factory-1", 900);
  DeviceRecord d;
  d.id = "edge-01";
  d.site = "ignored: the token decides";
  d.cert_serial = "01ab";
  d.cert_not_after = kT0 + 86400;
  d.facts_json = R"({"arch":"x86_64"})";
  f.clock.Advance(899);
  auto r = f.store->EnrollDevice("h1", d, f.clock.NowUnix());
  REQUIRE(r);
  CHECK(r->site == "factory-1");
  CHECK(r->enrolled_at == kT0 + 899);

  auto got = f.store->GetDevice("edge-01");
  REQUIRE(got);
  CHECK(got->site == "factory-1");
  CHECK(got->cert_serial == "01ab");
  CHECK(got->cert_not_after == kT0 + 86400);
  CHECK(got->facts_json == R"({"arch":"x86_64"})");
  CHECK(got->desired_generation == 0);
  CHECK_FALSE(got->revoked);
  CHECK(f.store->ListSites().value()[0].device_count == 1);

  auto enroll = f.AuditFor("device.enroll");
  REQUIRE(enroll.size() == 1);
  CHECK(enroll[0].actor == "device/edge-01");

  SECTION("reusing the token is refused") {
    d.id = "edge-02";
    auto again = f.store->EnrollDevice("h1", d, f.clock.NowUnix());
    REQUIRE_FALSE(again);
    CHECK(again.error().code == ErrorCode::kPermissionDenied);
    CHECK_THAT(again.error().message, Catch::Contains("already been used"));
    CHECK_FALSE(f.store->GetDevice("edge-02"));
  }
}

TEST_CASE("Store: an expired token is refused", "[store][token]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Token("h1", "factory-1", 900);
  f.clock.Advance(900);  // expires_at itself is already too late
  DeviceRecord d;
  d.id = "edge-01";
  auto r = f.store->EnrollDevice("h1", d, f.clock.NowUnix());
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kPermissionDenied);
  CHECK_THAT(r.error().message, Catch::Contains("expired"));
  CHECK_FALSE(f.store->GetDevice("edge-01"));
  CHECK(f.AuditFor("device.enroll").empty());
}

TEST_CASE("Store: an unknown token is refused", "[store][token]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  DeviceRecord d;
  d.id = "edge-01";
  auto r = f.store->EnrollDevice("no-such-hash", d, kT0);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kPermissionDenied);
  CHECK_THAT(r.error().message, Catch::Contains("not valid"));
}

TEST_CASE("Store: a taken device id is kAlreadyExists and does not consume the token", "[store][token]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  f.Token("h2", "factory-1", 900);
  DeviceRecord d;
  d.id = "edge-01";
  auto r = f.store->EnrollDevice("h2", d, kT0);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kAlreadyExists);
  CHECK_THAT(r.error().message, Catch::Contains("'edge-01' is already enrolled"));
  d.id = "edge-02";
  CHECK(f.store->EnrollDevice("h2", d, kT0));  // the failed attempt rolled back
}

TEST_CASE("Store: AddVersion is idempotent for the same digest and immutable otherwise", "[store][versions]") {
  EDGE_STORE_FIXTURE(f);
  auto v = f.Version("1.0", 1);
  CHECK(f.store->AddVersion(v, kT0).value() == false);
  auto changed = v;
  changed.manifest_digest = std::string(64, 'f');
  auto r = f.store->AddVersion(changed, kT0);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kAlreadyExists);
  auto got = f.store->GetVersion("detector", "1.0");
  REQUIRE(got);
  CHECK(got->envelope == "envelope of 1.0");
  CHECK(got->security_version == 1);
  CHECK(f.store->HasBlob("digest-model-1.0").value());
  CHECK_FALSE(f.store->HasBlob("digest-other").value());
  CHECK(f.store->GetVersion("detector", "9.9").error().code == ErrorCode::kNotFound);
  CHECK(f.store->ListVersions().value().size() == 1);
  CHECK(f.AuditFor("model.push").size() == 1);
}

TEST_CASE("Store: a rollout dispatch sets desired state and bumps generation, the same again changes nothing",
          "[store][deploy]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  f.Enroll("edge-02", "factory-1");
  f.Version("1.0", 1);
  f.Version("2.0", 2);

  CHECK(f.Desire({"edge-01", "edge-02"}, "1.0") == std::vector<std::string>{"edge-01", "edge-02"});
  CHECK(f.store->GetDevice("edge-01")->desired_generation == 1);
  auto desired = f.store->DesiredModels("edge-01");
  REQUIRE(desired);
  REQUIRE(desired->size() == 1);
  CHECK((*desired)[0].version == "1.0");
  CHECK((*desired)[0].envelope == "envelope of 1.0");

  CHECK(f.Desire({"edge-01", "edge-02"}, "1.0").empty());
  CHECK(f.store->GetDevice("edge-01")->desired_generation == 1);

  CHECK(f.Desire({"edge-02"}, "2.0") == std::vector<std::string>{"edge-02"});
  CHECK(f.store->GetDevice("edge-02")->desired_generation == 2);
  CHECK(f.store->DesiredModels("edge-02").value()[0].version == "2.0");
  CHECK(f.store->DesiredModels("edge-01").value()[0].version == "1.0");
}

TEST_CASE("Store: the fleet a rollout sees leaves out revoked devices and reads floors per model",
          "[store][deploy][floor]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  f.Enroll("edge-02", "factory-1");
  f.Enroll("edge-03", "factory-1");
  f.Version("1.0", 1);
  f.ReportFloor("edge-01", 3);
  ReportedModelRecord other;
  other.model = "classifier";
  other.version = "9.0";
  other.state = "committed";
  other.security_floor = 9;
  REQUIRE(f.store->RecordReport("edge-03", {other}, kT0));
  f.Exec("UPDATE devices SET revoked = 1 WHERE id = 'edge-02'");
  auto fleet = f.store->FleetForModel("detector");
  REQUIRE(fleet);
  REQUIRE(fleet->size() == 2);
  CHECK((*fleet)[0].id == "edge-01");
  REQUIRE((*fleet)[0].reported);
  CHECK((*fleet)[0].reported->security_floor == 3);
  CHECK((*fleet)[1].id == "edge-03");
  CHECK_FALSE((*fleet)[1].reported);  // its floor is the classifier's, not the detector's
}

TEST_CASE("Store: BlobSizeForDevice only answers for desired versions", "[store][deploy]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Site("factory-2");
  f.Enroll("edge-01", "factory-1");
  f.Enroll("edge-02", "factory-2");
  f.Version("1.0", 1);
  f.Version("2.0", 2);
  CHECK_FALSE(f.store->BlobSizeForDevice("edge-01", "digest-model-1.0").value());
  f.Desire({"edge-01"}, "1.0");
  CHECK(f.store->BlobSizeForDevice("edge-01", "digest-model-1.0").value() == std::optional<uint64_t>(200));
  CHECK(f.store->BlobSizeForDevice("edge-01", "digest-labels-1.0").value() == std::optional<uint64_t>(100));
  CHECK_FALSE(f.store->BlobSizeForDevice("edge-01", "digest-model-2.0").value());  // pushed, not desired
  CHECK_FALSE(f.store->BlobSizeForDevice("edge-02", "digest-model-1.0").value());  // not dispatched to
  CHECK_FALSE(f.store->BlobSizeForDevice("nobody", "digest-model-1.0").value());
  f.Desire({"edge-01"}, "2.0");
  CHECK_FALSE(f.store->BlobSizeForDevice("edge-01", "digest-model-1.0").value());  // no longer desired
  CHECK(f.store->BlobSizeForDevice("edge-01", "digest-model-2.0").value() == std::optional<uint64_t>(200));
}

TEST_CASE("Store: audit rows name the actor for site, token and rollout", "[store][audit]") {
  EDGE_STORE_FIXTURE(f);
  REQUIRE(f.store->CreateSite("factory-1", "operator/alice", kT0));
  REQUIRE(f.store->CreateToken({"h1", "factory-1", "operator/bob", kT0 + 1, kT0 + 601}, "operator/bob"));
  f.Version("1.0", 1);
  f.SiteRollout("factory-1", "1.0", "operator/carol", kT0 + 2);

  auto site = f.AuditFor("site.create");
  REQUIRE(site.size() == 1);
  CHECK(site[0].actor == "operator/alice");
  CHECK(site[0].target == "site/factory-1");
  CHECK(site[0].at == kT0);
  auto token = f.AuditFor("token.create");
  REQUIRE(token.size() == 1);
  CHECK(token[0].actor == "operator/bob");
  CHECK(token[0].target == "site/factory-1");
  CHECK_THAT(token[0].detail, Catch::Contains("expires_at=" + std::to_string(kT0 + 601)));
  auto created = f.AuditFor("rollout.create");
  REQUIRE(created.size() == 1);
  CHECK(created[0].actor == "operator/carol");
  CHECK(created[0].target == "rollout/1");
  CHECK_THAT(created[0].detail, Catch::Contains("detector:1.0"));

  // Newest first, filtered by target, limited.
  auto filtered = f.store->ListAudit({1, "site/factory-1", "", ""});
  REQUIRE(filtered);
  REQUIRE(filtered->size() == 1);
  CHECK((*filtered)[0].action == "token.create");
  REQUIRE(f.store->Audit({0, kT0 + 5, "operator/dave", "device.revoke", "device/x", "why"}));
  CHECK(f.store->ListAudit({1, "device/x", "", ""}).value()[0].actor == "operator/dave");
}

TEST_CASE("Store: SQL metacharacters are stored verbatim", "[store][sql]") {
  EDGE_STORE_FIXTURE(f);
  const std::string evil = "x'); DROP TABLE devices;--";
  REQUIRE(f.store->CreateSite(evil, "op/'admin\"", kT0));
  CHECK(f.store->SiteExists(evil).value());
  auto sites = f.store->ListSites();
  REQUIRE(sites);
  REQUIRE(sites->size() == 1);
  CHECK((*sites)[0].name == evil);

  f.Enroll("edge-01", evil);  // works only if the devices table still exists
  auto devices = f.store->ListDevices(evil);
  REQUIRE(devices);
  REQUIRE(devices->size() == 1);
  CHECK((*devices)[0].site == evil);
  CHECK(f.store->ListDevices("").value().size() == 1);
  auto audit = f.store->ListAudit({10, "site/" + evil, "", ""});
  REQUIRE(audit);
  REQUIRE_FALSE(audit->empty());
  CHECK(audit->back().actor == "op/'admin\"");
  CHECK(f.QueryInt("SELECT count(*) FROM devices") == 1);  // the table is still there
}

TEST_CASE("Store: reports and device models", "[store]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Enroll("edge-01", "factory-1");
  f.Version("1.0", 1);
  f.Desire({"edge-01"}, "1.0");
  REQUIRE(f.store->RecordHello("edge-01", "0.1.0", kT0 + 5));
  auto d = f.store->GetDevice("edge-01");
  CHECK(d->agent_version == "0.1.0");
  CHECK(d->last_seen == kT0 + 5);

  auto before = f.store->DeviceModels("edge-01");
  REQUIRE(before);
  REQUIRE(before->size() == 1);
  CHECK((*before)[0].desired_version == "1.0");
  CHECK_FALSE((*before)[0].reported);

  ReportedModelRecord m;
  m.model = "detector";
  m.version = "";
  m.state = "downloading";
  m.target_version = "1.0";
  m.bytes_done = 10;
  m.bytes_total = 300;
  ReportedModelRecord other = m;
  other.model = "classifier";
  REQUIRE(f.store->RecordReport("edge-01", {m, other}, kT0 + 10));
  m.state = "committed";
  m.version = "1.0";
  REQUIRE(f.store->RecordReport("edge-01", {m}, kT0 + 20));
  auto after = f.store->DeviceModels("edge-01");
  REQUIRE(after);
  REQUIRE(after->size() == 2);
  CHECK((*after)[0].model == "classifier");
  CHECK((*after)[0].desired_version.empty());
  REQUIRE((*after)[1].reported);
  CHECK((*after)[1].reported->state == "committed");
  CHECK((*after)[1].reported->updated_at == kT0 + 20);
  CHECK(f.store->GetDevice("edge-01")->last_seen == kT0 + 20);
  REQUIRE(f.store->RenewDeviceCert("edge-01", "serial-edge-01", "02cd", kT0 + 999, kT0));
  CHECK(f.store->GetDevice("edge-01")->cert_serial == "02cd");
}

TEST_CASE("Store: reopening a store keeps its data and migrations are a no-op", "[store]") {
  EDGE_STORE_FIXTURE(f);
  REQUIRE(f.store->CreateSite("factory-1", "op/admin", kT0));
  f.store.reset();
  auto reopened = f.Open();
  CHECK(reopened->SiteExists("factory-1").value());
  CHECK(f.Connect()->SchemaVersion().value() == edge::sql::NewestSchema(testing::StoreMigrations(f.db)));
}

TEST_CASE("Store: device counts and listings by site leave out revoked devices where they should", "[store]") {
  EDGE_STORE_FIXTURE(f);
  f.Site("factory-1");
  f.Site("factory-2");
  f.Enroll("edge-01", "factory-1");
  f.Enroll("edge-02", "factory-1");
  f.Enroll("edge-03", "factory-2");
  f.Exec("UPDATE devices SET revoked = 1 WHERE id = 'edge-02'");
  auto sites = f.store->ListSites();
  REQUIRE(sites);
  REQUIRE(sites->size() == 2);
  CHECK((*sites)[0].device_count == 1);
  CHECK((*sites)[1].device_count == 1);
  auto listed = f.store->ListDevices("factory-1");
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);  // the inventory still shows the revoked one, marked
  CHECK((*listed)[1].revoked);
  CHECK(f.store->ListDevices("").value().size() == 3);
  CHECK(f.store->GetDevice("nobody").error().code == ErrorCode::kNotFound);
}
