// What the controller accepts of an agent's health report and update events, and how
// `edgectl describe device` shows them.
#include <cmath>
#include <limits>
#include <sstream>

#include <catch2/catch.hpp>

#include "controller/api/health_report.h"
#include "controller/edgectl/health_view.h"
#include "tests/unit/controller/test_now.h"

using namespace edge::controller;
namespace pb = edge::v1;

namespace {

using edge::controller::testing::kNow;

pb::ModelHealth* AddModel(pb::Health& h, const std::string& name) {
  auto* m = h.add_models();
  m->set_model(name);
  m->set_version("v3");
  m->set_state("committed");
  m->set_inferences(1000);
  m->set_errors(2);
  for (uint64_t b : {100, 1000, 10000}) m->mutable_latency()->add_bucket_upper_us(b);
  for (uint64_t c : {900, 90, 8, 2}) m->mutable_latency()->add_counts(c);
  m->set_p50_us(80);
  m->set_p99_us(2400);
  m->set_last_selftest("passed 3 cases, max error 0.0");
  m->set_last_selftest_at(kNow - 30);
  return m;
}

pb::Health GoodHealth() {
  pb::Health h;
  h.set_unix_time(kNow - 1);
  h.set_cpu_percent(7.5);
  h.set_rss_bytes(50 << 20);
  h.set_disk_free_bytes(12ULL << 30);
  h.set_uptime_seconds(5400);
  AddModel(h, "kws");
  return h;
}

pb::UpdateEvent* AddEvent(google::protobuf::RepeatedPtrField<pb::UpdateEvent>& events, uint64_t seq,
                          const std::string& outcome) {
  auto* e = events.Add();
  e->set_seq(seq);
  e->set_model("kws");
  e->set_version("v" + std::to_string(seq));
  e->set_outcome(outcome);
  e->set_unix_time(kNow - 100);
  return e;
}

}  // namespace

TEST_CASE("CheckHealth keeps a well-formed report whole", "[health_report]") {
  auto checked = CheckHealth(GoodHealth(), kNow);
  CHECK(checked.problems.empty());
  REQUIRE(checked.value);
  CHECK(checked.value->received_at == kNow);
  CHECK(checked.value->cpu_percent == 7.5);
  REQUIRE(checked.value->models.size() == 1);
  CHECK(checked.value->models[0].latency_counts == std::vector<uint64_t>{900, 90, 8, 2});
  CHECK(checked.value->models[0].last_selftest == "passed 3 cases, max error 0.0");
}

TEST_CASE("CheckHealth leaves out a malformed model and names it", "[health_report]") {
  auto h = GoodHealth();
  SECTION("too many buckets") {
    auto* m = AddModel(h, "bad");
    for (uint64_t b = 20000; b < 20000 + 70; ++b) m->mutable_latency()->add_bucket_upper_us(b);
  }
  SECTION("counts do not match bounds") { AddModel(h, "bad")->mutable_latency()->add_counts(1); }
  SECTION("bounds not increasing") { AddModel(h, "bad")->mutable_latency()->set_bucket_upper_us(1, 50); }
  SECTION("NaN p99") { AddModel(h, "bad")->set_p99_us(std::numeric_limits<double>::quiet_NaN()); }
  SECTION("negative p50") { AddModel(h, "bad")->set_p50_us(-1); }
  SECTION("name with a slash") { AddModel(h, "bad/../x"); }
  SECTION("overlong state") { AddModel(h, "bad")->set_state(std::string(33, 's')); }
  auto checked = CheckHealth(h, kNow);
  REQUIRE(checked.value);
  REQUIRE(checked.value->models.size() == 1);
  CHECK(checked.value->models[0].model == "kws");
  REQUIRE(checked.problems.size() == 1);
  CHECK_THAT(checked.problems[0], Catch::Contains("'bad"));
}

TEST_CASE("CheckHealth refuses a report with too many models or a non-finite figure", "[health_report]") {
  auto h = GoodHealth();
  SECTION("65 models") {
    for (int i = 0; i < 64; ++i) AddModel(h, "m" + std::to_string(i));
  }
  SECTION("infinite cpu") { h.set_cpu_percent(std::numeric_limits<double>::infinity()); }
  SECTION("negative cpu") { h.set_cpu_percent(-3); }
  SECTION("negative time") { h.set_unix_time(-5); }
  auto checked = CheckHealth(h, kNow);
  CHECK_FALSE(checked.value);
  CHECK(checked.problems.size() == 1);
}

TEST_CASE("CheckHealth keeps the first of a model reported twice and cuts long self-test text", "[health_report]") {
  auto h = GoodHealth();
  AddModel(h, "kws")->set_inferences(1);
  h.mutable_models(0)->set_last_selftest(std::string(255, 'x') + "\xc3\xa9");  // é straddles byte 256
  auto checked = CheckHealth(h, kNow);
  REQUIRE(checked.value);
  REQUIRE(checked.value->models.size() == 1);
  CHECK(checked.value->models[0].inferences == 1000);
  CHECK(checked.value->models[0].last_selftest == std::string(255, 'x'));
  CHECK(checked.problems.size() == 1);
}

TEST_CASE("TruncateUtf8 never splits a sequence", "[health_report]") {
  CHECK(TruncateUtf8("abc", 10) == "abc");
  CHECK(TruncateUtf8("abcdef", 3) == "abc");
  CHECK(TruncateUtf8("a\xe2\x82\xac", 3) == "a");  // € is 3 bytes
  CHECK(TruncateUtf8("a\xe2\x82\xac", 4) == "a\xe2\x82\xac");
  CHECK(TruncateUtf8("\xf0\x9f\x99\x82", 2).empty());
}

TEST_CASE("CheckEvents sorts by seq, drops malformed ones and repeats, and caps the batch", "[health_report]") {
  google::protobuf::RepeatedPtrField<pb::UpdateEvent> events;
  AddEvent(events, 3, "rolled_back")->set_reason(std::string(2000, 'r'));
  AddEvent(events, 1, "committed");
  AddEvent(events, 1, "failed");       // same seq again: the first is kept
  AddEvent(events, 0, "committed");    // seq 0 is not a seq
  AddEvent(events, 4, "exploded");     // unknown outcome
  AddEvent(events, 5, "committed")->set_model("");
  AddEvent(events, 6, "failed")->set_offline_install(true);
  auto checked = CheckEvents(events);
  REQUIRE(checked.value.size() == 3);
  CHECK(checked.value[0].seq == 1);
  CHECK(checked.value[0].outcome == "committed");
  CHECK(checked.value[1].seq == 3);
  CHECK(checked.value[1].reason.size() == kMaxEventReason);
  CHECK(checked.value[2].seq == 6);
  CHECK(checked.value[2].offline_install);
  CHECK(checked.problems.size() == 3);

  google::protobuf::RepeatedPtrField<pb::UpdateEvent> many;
  for (uint64_t seq = 300; seq >= 1; --seq) AddEvent(many, seq, "committed");
  auto capped = CheckEvents(many);
  REQUIRE(capped.value.size() == kMaxEventsPerReport);
  CHECK(capped.value.front().seq == 1);
  CHECK(capped.value.back().seq == kMaxEventsPerReport);  // the ack can never cover 257..300
}

TEST_CASE("describe device prints health, history and events, and the JSON carries them", "[health_report][edgectl]") {
  pb::DeviceDetail detail;
  auto* h = detail.mutable_health();
  h->set_unix_time(kNow - 5);
  h->set_received_at(kNow - 4);
  h->set_cpu_percent(7.5);
  h->set_rss_bytes(50 << 20);
  h->set_disk_free_bytes(12ULL << 30);
  h->set_uptime_seconds(5400);
  auto* m = h->add_models();
  m->set_model("kws");
  m->set_version("v3");
  m->set_state("committed");
  m->set_inferences(1000);
  m->set_errors(2);
  m->set_p50_us(80);
  m->set_p99_us(2400);
  m->set_last_selftest("passed 3 cases, max error 0.0");
  m->set_last_selftest_at(kNow - 30);
  *detail.add_health_history() = *h;
  auto* e = detail.add_events();
  e->set_seq(2);
  e->set_model("kws");
  e->set_version("v4");
  e->set_outcome("rolled_back");
  e->set_reason("p99 2.4ms over budget 1ms");
  e->set_offline_install(true);
  e->set_unix_time(kNow - 100);

  std::ostringstream out;
  edge::edgectl::PrintHealthSections(detail, kNow, out);
  const auto text = out.str();
  CHECK_THAT(text, Catch::Contains("CPU 7.5%, RSS 50.0 MiB, disk free 12.0 GiB, uptime 90m"));
  CHECK_THAT(text, Catch::Contains("passed 3 cases, max error 0.0 ("));
  CHECK_THAT(text, Catch::Contains("80us"));
  CHECK_THAT(text, Catch::Contains("2.4ms"));
  CHECK_THAT(text, Catch::Contains("kws 1000/2/2.4ms"));
  CHECK_THAT(text, Catch::Contains("rolled_back (offline install)"));
  CHECK_THAT(text, Catch::Contains("p99 2.4ms over budget 1ms"));

  nlohmann::json j = nlohmann::json::object();
  edge::edgectl::AddHealthJson(detail, j);
  CHECK(j["health"]["models"][0]["p99_us"] == 2400.0);
  CHECK(j["health_history"].size() == 1);
  CHECK(j["events"][0]["offline_install"] == true);
  CHECK(j["events"][0]["seq"] == 2);

  pb::DeviceDetail empty;
  std::ostringstream none;
  edge::edgectl::PrintHealthSections(empty, kNow, none);
  CHECK_THAT(none.str(), Catch::Contains("none reported yet"));
  nlohmann::json jn = nlohmann::json::object();
  edge::edgectl::AddHealthJson(empty, jn);
  CHECK(jn["health"].is_null());
}
