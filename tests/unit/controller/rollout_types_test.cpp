// Rollout strategy amounts and validation, label selectors and label edits.
#include <catch2/catch.hpp>

#include "controller/rollout/rollout.h"
#include "controller/rollout/selector.h"

namespace ro = edge::controller::rollout;

TEST_CASE("Rollout amounts: counts and percentages parse, round up and name bad text", "[rollout][types]") {
  CHECK(ro::ParseAmount("3")->Of(10) == 3);
  CHECK(ro::ParseAmount("3")->Of(2) == 2);  // capped at the set
  CHECK(ro::ParseAmount("25%")->Of(10) == 3);
  CHECK(ro::ParseAmount("33.3%")->Of(3) == 1);
  CHECK(ro::ParseAmount("100%")->Of(7) == 7);
  CHECK(ro::ParseAmount("1%")->Of(1) == 1);  // any positive share of a non-empty set is a device
  CHECK(ro::ParseAmount("50%")->Text() == "50%");
  for (const char* bad : {"", "-3", "abc", "101%", "0%", "%", "3x", "1e3", "99999999999"}) {
    auto a = ro::ParseAmount(bad);
    INFO(bad);
    CHECK_FALSE(a);
  }
}

TEST_CASE("Rollout strategies: the default and all-at-once validate, bad ones are refused by field", "[rollout][types]") {
  CHECK(ro::Validate(ro::Strategy{}));
  CHECK(ro::Validate(ro::AllAtOnce()));
  auto refused = [](auto edit, const std::string& phrase) {
    ro::Strategy s;
    edit(s);
    auto v = ro::Validate(s);
    REQUIRE_FALSE(v);
    CHECK_THAT(v.error().message, Catch::Contains(phrase));
  };
  refused([](ro::Strategy& s) { s.canary = ro::Amount::Count(0); }, "canary must be at least one device");
  refused([](ro::Strategy& s) { s.waves = {ro::Amount::Percent(50)}; }, "the last wave must be 100%");
  refused([](ro::Strategy& s) { s.waves = {ro::Amount::Percent(50), ro::Amount::Percent(20), ro::Amount::Percent(100)}; },
          "must grow");
  refused([](ro::Strategy& s) { s.waves = {ro::Amount::Percent(100), ro::Amount::Percent(100)}; }, "must grow");
  refused([](ro::Strategy& s) { s.success_threshold = 1.5; }, "success threshold");
  refused([](ro::Strategy& s) { s.soak_seconds = -1; }, "soak");
  refused([](ro::Strategy& s) { s.device_timeout_seconds = 0; }, "device timeout");
}

TEST_CASE("Label selectors: requirements, matching and errors that name the requirement", "[rollout][selector]") {
  auto s = ro::Selector::Parse("line=3,camera!=ir,gpu,!retired");
  REQUIRE(s);
  CHECK(s->requirements().size() == 4);
  CHECK(s->Matches({{"line", "3"}, {"gpu", "t4"}}));
  CHECK(s->Matches({{"line", "3"}, {"gpu", ""}, {"camera", "rgb"}}));
  CHECK_FALSE(s->Matches({{"line", "3"}, {"gpu", "t4"}, {"camera", "ir"}}));
  CHECK_FALSE(s->Matches({{"line", "4"}, {"gpu", "t4"}}));
  CHECK_FALSE(s->Matches({{"line", "3"}}));
  CHECK_FALSE(s->Matches({{"line", "3"}, {"gpu", "t4"}, {"retired", "yes"}}));
  CHECK(ro::Selector::Parse("line==3")->Matches({{"line", "3"}}));
  CHECK(ro::Selector::Parse("")->Matches({}));  // the empty selector selects everything
  for (const char* bad : {"a=b,,", "=x", ",a", "a=b=c", "k=v v", "-k=v", "k=\"q\"", "!"}) {
    auto p = ro::Selector::Parse(bad);
    INFO(bad);
    REQUIRE_FALSE(p);
    CHECK_THAT(p.error().message, Catch::Contains("label selector"));
  }
  CHECK_FALSE(ro::Selector::Parse(std::string(2000, 'a') + "=b"));
  auto escape = ro::Selector::Parse("k=\x1b[31m");
  REQUIRE_FALSE(escape);
  CHECK(escape.error().message.find('\x1b') == std::string::npos);  // quoted safely
}

TEST_CASE("Label edits: key=value sets, key- removes, anything else is refused", "[rollout][selector]") {
  auto e = ro::ParseLabelEdits({"line=3", "camera=", "old-"});
  REQUIRE(e);
  CHECK(e->set == ro::Labels{{"line", "3"}, {"camera", ""}});
  CHECK(e->remove == std::vector<std::string>{"old"});
  CHECK_FALSE(ro::ParseLabelEdits({"noequals"}));
  CHECK_FALSE(ro::ParseLabelEdits({"k=v", "k-"}));
  CHECK_FALSE(ro::ParseLabelEdits({std::string(64, 'k') + "=v"}));
  CHECK_FALSE(ro::ParseLabelEdits({"k=" + std::string(64, 'v')}));
}
