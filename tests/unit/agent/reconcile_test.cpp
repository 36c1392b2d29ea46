#include "agent/core/reconcile.h"

#include <catch2/catch.hpp>

using namespace edge::agent;

namespace {

LocalModel Running(const std::string& version, const std::string& digest, uint64_t floor) {
  LocalModel l;
  l.active_version = version;
  l.active_digest = digest;
  l.floor = floor;
  l.state = UpdateState::kCommitted;
  return l;
}

}  // namespace

TEST_CASE("Redeploying the active digest does nothing", "[reconcile]") {
  const LocalModel local = Running("1.0", "aaa", 1);
  CHECK(Reconcile(local, {"1.0", "aaa", 1}) == ReconcileDecision::kNothing);
  LocalModel idle = local;
  idle.state = UpdateState::kIdle;
  CHECK(Reconcile(idle, {"1.0", "aaa", 1}) == ReconcileDecision::kNothing);
}

TEST_CASE("A busy update towards the same target does nothing", "[reconcile]") {
  for (auto s : {UpdateState::kDownloading, UpdateState::kVerifying, UpdateState::kStaged, UpdateState::kActivating}) {
    LocalModel local = Running("1.0", "aaa", 1);
    local.state = s;
    local.target_version = "2.0";
    local.target_digest = "bbb";
    CHECK(Reconcile(local, {"2.0", "bbb", 2}) == ReconcileDecision::kNothing);
  }
}

TEST_CASE("A target that failed here before is not retried on its own", "[reconcile]") {
  LocalModel local = Running("1.0", "aaa", 1);
  local.state = UpdateState::kFailed;
  local.target_version = "2.0";
  local.target_digest = "bbb";
  CHECK(Reconcile(local, {"2.0", "bbb", 2}) == ReconcileDecision::kAlreadyFailed);
  // A re-signed envelope for the same version is a different digest: try it.
  CHECK(Reconcile(local, {"2.0", "ccc", 2}) == ReconcileDecision::kStart);
}

TEST_CASE("A target below the anti-rollback floor is refused", "[reconcile]") {
  const LocalModel local = Running("3.0", "ccc", 3);
  CHECK(Reconcile(local, {"2.0", "bbb", 2}) == ReconcileDecision::kBelowFloor);
  CHECK(Reconcile(local, {"2.1", "ddd", 3}) == ReconcileDecision::kStart);  // equal to the floor is allowed
}

TEST_CASE("A new target starts an update", "[reconcile]") {
  CHECK(Reconcile(LocalModel{}, {"1.0", "aaa", 0}) == ReconcileDecision::kStart);
  CHECK(Reconcile(Running("1.0", "aaa", 1), {"2.0", "bbb", 2}) == ReconcileDecision::kStart);
}

TEST_CASE("Going back to the active version while another target is in flight restarts towards it", "[reconcile]") {
  LocalModel local = Running("1.0", "aaa", 1);
  local.state = UpdateState::kDownloading;
  local.target_version = "2.0";
  local.target_digest = "bbb";
  CHECK(Reconcile(local, {"1.0", "aaa", 1}) == ReconcileDecision::kStart);
}

TEST_CASE("A version rolled back on this device is not retried", "[reconcile]") {
  LocalModel local = Running("1.0", "aaa", 1);
  local.state = UpdateState::kRolledBack;
  local.target_version = "2.0";
  local.target_digest = "bbb";
  CHECK(Reconcile(local, {"2.0", "bbb", 2}) == ReconcileDecision::kAlreadyFailed);
  // A different version is a new decision.
  CHECK(Reconcile(local, {"3.0", "ccc", 3}) == ReconcileDecision::kStart);
}

TEST_CASE("A target refused under an older trust policy is started once it verifies", "[reconcile]") {
  LocalModel local = Running("1.0", "aaa", 1);
  local.state = UpdateState::kFailed;
  local.target_version = "2.0";
  local.target_digest = "bbb";
  local.target_refused = true;  // refused before any work: the caller has re-verified it now
  CHECK(Reconcile(local, {"2.0", "bbb", 2}) == ReconcileDecision::kStart);
  // Still a floor check: a refusal does not open a way below the floor.
  local.floor = 5;
  CHECK(Reconcile(local, {"2.0", "bbb", 2}) == ReconcileDecision::kBelowFloor);
  // A rolled-back version is a verdict on the model, refused flag or not.
  local.floor = 1;
  local.state = UpdateState::kRolledBack;
  CHECK(Reconcile(local, {"2.0", "bbb", 2}) == ReconcileDecision::kAlreadyFailed);
}
