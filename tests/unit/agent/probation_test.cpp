#include "agent/core/probation.h"

#include <catch2/catch.hpp>

using namespace edge::agent;
using V = ProbationVerdict;

namespace {
ProbationPolicy Policy() {
  ProbationPolicy p;
  p.soak_seconds = 60;
  p.latency_budget_us = 1000;
  p.max_error_rate = 0.05;
  p.min_requests = 20;
  p.max_restarts = 2;
  return p;
}
ProbationObservation At(int64_t now) {
  ProbationObservation o;
  o.started_at = 1000;
  o.now = now;
  return o;
}
}  // namespace

TEST_CASE("A healthy version keeps watching until the soak period ends", "[probation]") {
  auto o = At(1059);
  o.inferences = 500;
  o.errors = 1;
  o.p99_us = 900;
  CHECK(JudgeProbation(Policy(), o).verdict == V::kContinue);
  o.now = 1060;
  CHECK(JudgeProbation(Policy(), o).verdict == V::kSoaked);
}

TEST_CASE("A soak period of zero passes at once", "[probation]") {
  auto p = Policy();
  p.soak_seconds = 0;
  CHECK(JudgeProbation(p, At(1000)).verdict == V::kSoaked);
}

TEST_CASE("An error rate over the limit fails, naming the numbers", "[probation]") {
  auto o = At(1010);
  o.inferences = 40;
  o.errors = 3;  // 7.5 %
  auto j = JudgeProbation(Policy(), o);
  CHECK(j.verdict == V::kFail);
  CHECK(j.reason == "error rate 7.5% (3 of 40 requests) exceeds 5.0%");
  o.errors = 2;  // 5 % is allowed
  CHECK(JudgeProbation(Policy(), o).verdict == V::kContinue);
}

TEST_CASE("Error rate and latency are not judged on too few requests", "[probation]") {
  auto o = At(1010);
  o.inferences = 19;
  o.errors = 19;
  o.p99_us = 1e9;
  CHECK(JudgeProbation(Policy(), o).verdict == V::kContinue);
}

TEST_CASE("A p99 over the budget fails, no budget means no latency check", "[probation]") {
  auto o = At(1010);
  o.inferences = 100;
  o.p99_us = 1500;
  auto j = JudgeProbation(Policy(), o);
  CHECK(j.verdict == V::kFail);
  CHECK(j.reason == "p99 latency 1500 us over 100 requests exceeds the budget of 1000 us");
  auto p = Policy();
  p.latency_budget_us = 0;
  CHECK(JudgeProbation(p, o).verdict == V::kContinue);
}

TEST_CASE("More restarts than allowed during probation is a crash loop", "[probation]") {
  auto o = At(1010);
  o.restarts = 2;
  CHECK(JudgeProbation(Policy(), o).verdict == V::kContinue);
  o.restarts = 3;
  auto j = JudgeProbation(Policy(), o);
  CHECK(j.verdict == V::kFail);
  CHECK(j.reason == "crash loop: the agent restarted 3 times during probation (at most 2 allowed)");
}

TEST_CASE("A failure in the last second still fails", "[probation]") {
  auto o = At(2000);
  o.inferences = 100;
  o.errors = 50;
  CHECK(JudgeProbation(Policy(), o).verdict == V::kFail);
}
