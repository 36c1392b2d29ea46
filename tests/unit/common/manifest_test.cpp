#include <catch2/catch.hpp>

#include "bundle_fixtures.h"

using namespace edge::bundle;
using namespace edge::bundle::testing;
using edge::ErrorCode;
using nlohmann::json;

namespace {

json SampleJson() { return json::parse(SerializeManifest(SampleManifest())); }

// Parses `doc` and expects an InvalidArgument error mentioning `expect`.
void ExpectRejected(const json& doc, const std::string& expect) {
  auto m = ParseManifest(doc.dump());
  REQUIRE_FALSE(m);
  INFO(m.error().message);
  CHECK(m.error().code == ErrorCode::kInvalidArgument);
  CHECK(Contains(m.error().message, expect));
}

}  // namespace

TEST_CASE("Manifest serialize and parse round trip", "[bundle][manifest]") {
  Manifest m = SampleManifest();
  m.expires = kNow + 3600;
  auto back = ParseManifest(SerializeManifest(m));
  REQUIRE(back);
  CHECK(back->name == m.name);
  CHECK(back->version == m.version);
  CHECK(back->security_version == m.security_version);
  CHECK(back->created == m.created);
  CHECK(back->expires == m.expires);
  CHECK(back->compat.arch == "x86_64");
  CHECK(back->compat.cpu_features == m.compat.cpu_features);
  CHECK(back->compat.min_engine_abi == 2);
  REQUIRE(back->blobs.size() == 2);
  CHECK(back->blobs[1].role == "selftest");
  CHECK(back->blobs[1].digest == m.blobs[1].digest);
  CHECK(back->blobs[1].size == 14);
  CHECK(back->blobs[1].media_type == "application/json");
  CHECK(back->io == m.io);
  CHECK(back->health.selftest_tolerance == Approx(0.01));
  CHECK(back->health.latency_budget_us == 5000);
  CHECK(back->health.soak_seconds == 600);
  CHECK(back->health.max_tries == 3);
  REQUIRE(FindBlob(*back, "model") != nullptr);
  CHECK(FindBlob(*back, "model")->size == 11);
  CHECK(FindBlob(*back, "labels") == nullptr);
}

TEST_CASE("Manifest optional fields may be absent", "[bundle][manifest]") {
  json doc = {{"schema", 1},
              {"name", "m"},
              {"version", "1"},
              {"security_version", 0},
              {"blobs", {{{"role", "model"}, {"digest", std::string(64, '0')}, {"size", 1}}}}};
  auto m = ParseManifest(doc.dump());
  INFO((m ? "" : m.error().message));
  REQUIRE(m);
  CHECK_FALSE(m->expires);
  CHECK(m->compat.arch.empty());
  CHECK(m->health.max_tries == 1);
  CHECK(m->io.is_object());
}

TEST_CASE("Manifest rejects unknown keys naming them", "[bundle][manifest]") {
  auto doc = SampleJson();
  doc["sneaky"] = true;
  ExpectRejected(doc, "unknown field 'sneaky'");
  doc = SampleJson();
  doc["compat"]["gpu"] = "yes";
  ExpectRejected(doc, "manifest.compat: unknown field 'gpu'");
  doc = SampleJson();
  doc["health"]["retries"] = 9;
  ExpectRejected(doc, "manifest.health: unknown field 'retries'");
  doc = SampleJson();
  doc["blobs"][0]["url"] = "http://x";
  ExpectRejected(doc, "manifest.blobs[0]: unknown field 'url'");
}

TEST_CASE("Manifest rejects bad digests and sizes", "[bundle][manifest]") {
  auto doc = SampleJson();
  doc["blobs"][0]["digest"] = std::string(64, 'A');
  ExpectRejected(doc, "manifest.blobs[0].digest");
  doc["blobs"][0]["digest"] = std::string(63, 'a');
  ExpectRejected(doc, "manifest.blobs[0].digest");
  doc["blobs"][0]["digest"] = "sha256:" + std::string(64, 'a');
  ExpectRejected(doc, "manifest.blobs[0].digest");
  doc = SampleJson();
  doc["blobs"][1]["digest"] = doc["blobs"][0]["digest"];
  ExpectRejected(doc, "duplicate blob digest");
  doc = SampleJson();
  doc["blobs"][0]["size"] = (uint64_t{4} << 30) + 1;
  ExpectRejected(doc, "manifest.blobs[0].size");
  doc["blobs"][0]["size"] = -1;
  ExpectRejected(doc, "manifest.blobs[0].size");
  doc["blobs"][0]["size"] = 1.5;
  ExpectRejected(doc, "manifest.blobs[0].size");
}

TEST_CASE("Manifest requires a model blob and unique roles", "[bundle][manifest]") {
  auto doc = SampleJson();
  doc["blobs"].erase(0);
  ExpectRejected(doc, "no blob with role 'model'");
  doc = SampleJson();
  doc["blobs"] = json::array();
  ExpectRejected(doc, "no blob with role 'model'");
  doc = SampleJson();
  doc["blobs"][1]["role"] = "model";
  ExpectRejected(doc, "duplicate role");
  doc = SampleJson();
  doc.erase("blobs");
  ExpectRejected(doc, "manifest.blobs: missing required field");
}

TEST_CASE("Manifest names and versions are restricted", "[bundle][manifest]") {
  // Model names are labels: SQL metacharacters are fine (SQL is bound), path syntax is not.
  for (const char* good : {"x'; DROP TABLE--", "kws v2", "a\"b"}) {
    INFO(good);
    auto doc = SampleJson();
    doc["name"] = good;
    REQUIRE(ParseManifest(doc.dump()));
  }
  for (const char* bad : {"", "a/b", "..", ".hidden", "-rf", "a:b", "a\\b", " lead", "\xc3\xa9"}) {
    INFO(bad);
    auto doc = SampleJson();
    doc["name"] = bad;
    ExpectRejected(doc, "manifest.name");
  }
  for (const char* bad : {"", "1 0", "1/0", "1;0", "..", ".", ".v1", "-v1", "current", "previous"}) {
    INFO(bad);
    auto doc = SampleJson();
    doc["version"] = bad;
    ExpectRejected(doc, "manifest.version");
  }
  auto doc = SampleJson();
  doc["version"] = std::string(65, '1');
  ExpectRejected(doc, "manifest.version");
  doc = SampleJson();
  doc["blobs"][0]["role"] = "model'--";
  ExpectRejected(doc, "manifest.blobs[0].role");
}

TEST_CASE("Manifest rejects wrong types and schema", "[bundle][manifest]") {
  auto doc = SampleJson();
  doc["schema"] = 2;
  ExpectRejected(doc, "schema");
  doc = SampleJson();
  doc.erase("schema");
  ExpectRejected(doc, "schema");
  doc = SampleJson();
  doc["security_version"] = "5";
  ExpectRejected(doc, "security_version");
  doc = SampleJson();
  doc["security_version"] = -5;
  ExpectRejected(doc, "security_version");
  doc = SampleJson();
  doc["io"] = json::array();
  ExpectRejected(doc, "manifest.io");
  doc = SampleJson();
  doc["health"]["max_tries"] = 0;
  ExpectRejected(doc, "max_tries");
  doc = SampleJson();
  doc["health"]["selftest_tolerance"] = -0.1;
  ExpectRejected(doc, "selftest_tolerance");
  doc = SampleJson();
  doc["compat"]["min_engine_abi"] = uint64_t{1} << 33;
  ExpectRejected(doc, "min_engine_abi");
  doc = SampleJson();
  doc["expires"] = "tomorrow";
  ExpectRejected(doc, "expires");
  ExpectRejected(json::array(), "must be a JSON object");
}

TEST_CASE("Security floor: equal ok, lower rejected, higher ok", "[bundle][floor]") {
  Manifest m = SampleManifest();
  m.security_version = 5;
  CHECK(CheckSecurityFloor(m, 5));
  CHECK(CheckSecurityFloor(m, 4));
  CHECK(CheckSecurityFloor(m, 0));
  auto lower = CheckSecurityFloor(m, 6);
  REQUIRE_FALSE(lower);
  CHECK(lower.error().code == ErrorCode::kFailedPrecondition);
  CHECK(Contains(lower.error().message, "below the anti-rollback floor 6"));
}

namespace {

QualityRecord SampleQuality() {
  QualityRecord q;
  q.reference_digest = edge::crypto::Sha256Hex("fp32 model");
  q.eval_digest = edge::crypto::Sha256Hex("eval data");
  q.samples = 100;
  q.outputs.push_back({"logits", 0.99, 0.9998, 35.6, 0.47});
  q.outputs.push_back({"embedding", std::nullopt, 1.0, std::nullopt, 0.0});  // exact, not a classifier
  return q;
}

}  // namespace

TEST_CASE("Manifest quality figures round trip and are absent unless measured", "[bundle][manifest]") {
  // Without quality the manifest has no "quality" key: its bytes are those of older builds.
  CHECK_FALSE(SampleJson().contains("quality"));
  CHECK_FALSE(ParseManifest(SerializeManifest(SampleManifest()))->quality.has_value());
  Manifest m = SampleManifest();
  m.quality = SampleQuality();
  auto back = ParseManifest(SerializeManifest(m));
  INFO((back ? "" : back.error().message));
  REQUIRE(back);
  REQUIRE(back->quality);
  CHECK(back->quality->reference_digest == m.quality->reference_digest);
  CHECK(back->quality->eval_digest == m.quality->eval_digest);
  CHECK(back->quality->samples == 100);
  REQUIRE(back->quality->outputs.size() == 2);
  CHECK(back->quality->outputs[0].output == "logits");
  CHECK(back->quality->outputs[0].top1_agreement == Approx(0.99));
  CHECK(back->quality->outputs[0].snr_db == Approx(35.6));
  CHECK(back->quality->outputs[0].cosine == Approx(0.9998));
  CHECK(back->quality->outputs[0].max_abs_error == Approx(0.47));
  CHECK_FALSE(back->quality->outputs[1].top1_agreement);
  CHECK_FALSE(back->quality->outputs[1].snr_db);
}

TEST_CASE("Manifest quality figures are read strictly", "[bundle][manifest]") {
  Manifest m = SampleManifest();
  m.quality = SampleQuality();
  const json good = json::parse(SerializeManifest(m));
  json doc = good;
  doc["quality"]["outputs"][0]["top1"] = 1.0;
  ExpectRejected(doc, "manifest.quality.outputs[0]: unknown field 'top1'");
  doc = good;
  doc["quality"]["outputs"][0]["top1_agreement"] = 1.5;
  ExpectRejected(doc, "between 0 and 1");
  doc = good;
  doc["quality"]["reference_digest"] = "abc";
  ExpectRejected(doc, "manifest.quality.reference_digest");
  doc = good;
  doc["quality"].erase("samples");
  ExpectRejected(doc, "samples");
  doc = good;
  doc["quality"]["outputs"][0]["snr_db"] = "high";
  ExpectRejected(doc, "must be a number");
}
