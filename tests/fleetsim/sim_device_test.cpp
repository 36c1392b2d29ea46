#include <catch2/catch.hpp>

#include "tests/fleetsim/sim_device.h"

namespace edge::fleetsim {
namespace {

constexpr int64_t kNow = 1'800'000'000;

edge::v1::DesiredState Desired(uint64_t generation, const std::string& version) {
  edge::v1::DesiredState d;
  d.set_generation(generation);
  auto* m = d.add_models();
  m->set_model("detector");
  m->set_version(version);
  m->set_envelope("envelope of " + version);
  return d;
}

std::map<std::pair<std::string, std::string>, SimDevice::Verified> Facts(const std::string& version, double soak) {
  return {{{"detector", version}, {{{"d1-" + version, 300}, {"d2-" + version, 100}}, 4, soak}}};
}

std::vector<std::string> Outcomes(const edge::v1::StatusReport& r) {
  std::vector<std::string> out;
  for (const auto& e : r.events()) out.push_back(e.version() + " " + e.outcome());
  return out;
}

TEST_CASE("SimDevice: a device downloads, soaks and commits a desired version") {
  Script script;
  SimDevice d("sim-00001", &script);
  auto work = d.OnDesired(Desired(3, "v2"), Facts("v2", 10), kNow);
  REQUIRE(work.download);
  CHECK(work.download->second == "v2");
  REQUIRE(work.blobs.size() == 2);
  CHECK(work.blobs[0].digest == "d1-v2");
  auto r = d.MakeReport(kNow, 5);
  CHECK(r.acked_generation() == 3);
  REQUIRE(r.models_size() == 1);
  CHECK(r.models(0).state() == "downloading");
  CHECK(r.models(0).target_version() == "v2");
  CHECK(r.models(0).bytes_total() == 400);
  // The same desired state again starts nothing new.
  CHECK_FALSE(d.OnDesired(Desired(3, "v2"), Facts("v2", 10), kNow).download);

  d.OnProgress("detector", "v2", 300);
  CHECK(d.MakeReport(kNow, 5).models(0).bytes_done() == 300);
  auto next = d.OnDownloaded("detector", "v2", true, "", kNow, 20.0);
  REQUIRE(next.soak_until);
  CHECK(*next.soak_until == Approx(30.0));
  r = d.MakeReport(kNow + 5, 25);
  CHECK(r.models(0).state() == "probation");
  CHECK(r.models(0).version() == "v2");
  CHECK(r.models(0).security_version() == 4);
  CHECK_FALSE(d.CommittedOn("detector", "v2"));
  // Health: the inferences since activation, in a histogram whose total matches.
  REQUIRE(r.health().models_size() == 1);
  const auto& h = r.health().models(0);
  CHECK(h.inferences() == 50);
  uint64_t sum = 0;
  for (auto c : h.latency().counts()) sum += c;
  CHECK(sum == h.inferences());
  CHECK(h.latency().counts_size() == h.latency().bucket_upper_us_size() + 1);

  d.SoakDone("detector", "v2", kNow + 10);
  CHECK(d.CommittedOn("detector", "v2"));
  r = d.MakeReport(kNow + 10, 30);
  CHECK(r.models(0).state() == "committed");
  CHECK(r.models(0).target_version().empty());
  CHECK(Outcomes(r) == std::vector<std::string>{"v2 committed"});
  CHECK(r.events(0).seq() == 1);
  // Events are re-sent until acknowledged.
  CHECK(d.MakeReport(kNow + 11, 31).events_size() == 1);
  d.OnAck(1);
  CHECK(d.MakeReport(kNow + 12, 32).events_size() == 0);
  CHECK(d.MakeHello(7).models(0).version() == "v2");
}

TEST_CASE("SimDevice: a device scripted to fail a version rolls back and keeps its active one") {
  Script script;
  script.fail.push_back({1.0, "v3"});
  SimDevice d("sim-00002", &script);
  d.OnDesired(Desired(1, "v2"), Facts("v2", 0), kNow);
  d.OnDownloaded("detector", "v2", true, "", kNow, 1);
  d.SoakDone("detector", "v2", kNow);
  d.OnAck(1);
  CHECK(d.WillFail("v3"));
  CHECK_FALSE(d.WillFail("v2"));
  REQUIRE(d.OnDesired(Desired(2, "v3"), Facts("v3", 0), kNow).download);
  CHECK_FALSE(d.OnDownloaded("detector", "v3", true, "", kNow, 2).soak_until);
  auto r = d.MakeReport(kNow, 2);
  CHECK(r.models(0).version() == "v2");
  CHECK(r.models(0).state() == "rolled_back");
  CHECK(r.models(0).target_version() == "v3");
  CHECK(Outcomes(r) == std::vector<std::string>{"v3 rolled_back"});
  // The controller keeps desiring v3: the device does not try again.
  CHECK_FALSE(d.OnDesired(Desired(2, "v3"), Facts("v3", 0), kNow).download);
  // Sent back to v2, it is committed on it at once.
  d.OnDesired(Desired(3, "v2"), Facts("v2", 0), kNow);
  CHECK(d.CommittedOn("detector", "v2"));
}

TEST_CASE("SimDevice: a newer target abandons the one in flight and a failed download fails it") {
  Script script;
  SimDevice d("sim-00003", &script);
  d.OnDesired(Desired(1, "v2"), Facts("v2", 0), kNow);
  auto work = d.OnDesired(Desired(2, "v3"), Facts("v3", 0), kNow);
  REQUIRE(work.download);
  CHECK(work.download->second == "v3");
  // The old download's late result is ignored.
  CHECK_FALSE(d.OnDownloaded("detector", "v2", true, "", kNow, 1).soak_until);
  d.OnDownloaded("detector", "v3", false, "digest mismatch: got 00", kNow, 1);
  auto r = d.MakeReport(kNow, 1);
  CHECK(r.models(0).state() == "failed");
  CHECK(r.models(0).detail() == "digest mismatch: got 00");
  CHECK(Outcomes(r) == std::vector<std::string>{"v2 abandoned", "v3 failed"});
}

TEST_CASE("SimDevice: a refused envelope fails once and a slow device reports its p99") {
  Script script;
  script.slow.push_back({1.0, "v2", 50000});
  SimDevice d("sim-00004", &script);
  d.Refuse("detector", "v9", "signature does not verify", kNow);
  d.Refuse("detector", "v9", "signature does not verify", kNow);
  auto r = d.MakeReport(kNow, 1);
  CHECK(Outcomes(r) == std::vector<std::string>{"v9 failed"});
  d.OnDesired(Desired(1, "v2"), Facts("v2", 0), kNow);
  d.OnDownloaded("detector", "v2", true, "", kNow, 0);
  r = d.MakeReport(kNow, 100);
  REQUIRE(r.health().models_size() == 1);
  CHECK(r.health().models(0).p99_us() == 50000);
  // 1 in 50 inferences sits in the bucket that holds 50 ms.
  const auto& lat = r.health().models(0).latency();
  size_t slow_bucket = 0;
  while (slow_bucket < static_cast<size_t>(lat.bucket_upper_us_size()) && lat.bucket_upper_us(static_cast<int>(slow_bucket)) < 50000) ++slow_bucket;
  CHECK(lat.counts(static_cast<int>(slow_bucket)) == 1000 / 50);
}

TEST_CASE("SimDevice: script rules pick the same devices for a seed and about their share") {
  int picked = 0;
  for (int i = 0; i < 10000; ++i) {
    const auto name = "sim-" + std::to_string(i);
    const bool a = Chosen(7, "fail:v2", name, 0.1);
    CHECK(a == Chosen(7, "fail:v2", name, 0.1));
    picked += a;
  }
  CHECK(picked > 900);
  CHECK(picked < 1100);
  CHECK_FALSE(Chosen(7, "x", "sim-1", 0));
  CHECK(Chosen(7, "x", "sim-1", 1));
}

}  // namespace
}  // namespace edge::fleetsim
