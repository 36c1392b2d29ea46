#include "controller/api/rollout_proto.h"

#include <cmath>

namespace edge::controller {

using namespace rollout;
namespace pb = edge::v1;

namespace {

Result<Amount> FromProto(const pb::Amount& a, const char* field) {
  if (a.kind_case() == pb::Amount::kPercent) {
    if (!std::isfinite(a.percent()) || a.percent() <= 0 || a.percent() > 100)
      return Fail(ErrorCode::kInvalidArgument, std::string(field) + ": a percentage must be above 0 and at most 100");
    return Amount::Percent(a.percent());
  }
  return Amount::Count(a.count());
}

void ToProto(const Amount& a, pb::Amount* out) {
  if (a.is_percent) out->set_percent(a.percent);
  else out->set_count(a.count);
}

}  // namespace

Result<Strategy> StrategyFromProto(const pb::CreateRolloutRequest& req) {
  if (req.use_default_strategy()) return Strategy{};
  const auto& p = req.strategy();
  if (p.all_at_once()) return AllAtOnce();
  Strategy s;
  EDGE_ASSIGN_OR_RETURN(s.canary, FromProto(p.canary(), "canary"));
  s.canary_per_site = p.canary_per_site();
  if (p.waves_size() > 20) return Fail(ErrorCode::kInvalidArgument, "strategy: at most 20 waves after the canary");
  s.waves.clear();
  for (const auto& w : p.waves()) {
    EDGE_ASSIGN_OR_RETURN(auto a, FromProto(w, "waves"));
    s.waves.push_back(a);
  }
  s.max_parallel = p.max_parallel();
  EDGE_ASSIGN_OR_RETURN(s.site_budget, FromProto(p.site_budget(), "site_budget"));
  s.soak_seconds = p.soak_seconds();
  s.device_timeout_seconds = p.device_timeout_seconds();
  s.success_threshold = p.success_threshold();
  s.failure_threshold = p.failure_threshold();
  s.health_gates = p.health_gates();
  s.min_requests = p.min_requests();
  s.max_latency_regression = p.max_latency_regression();
  s.max_error_rate_increase = p.max_error_rate_increase();
  s.max_restarts = p.max_restarts();
  s.health_timeout_seconds = p.health_timeout_seconds();
  auto on_failure = ParseOnFailure(p.on_failure());
  if (!on_failure) return Fail(ErrorCode::kInvalidArgument, "strategy: on_failure must be pause, abort or revert");
  s.on_failure = *on_failure;
  auto traffic = ParseInsufficientTraffic(p.insufficient_traffic());
  if (!traffic) return Fail(ErrorCode::kInvalidArgument, "strategy: insufficient_traffic must be pause or proceed");
  s.insufficient_traffic = *traffic;
  EDGE_TRY(Validate(s));
  return s;
}

void StrategyToProto(const Strategy& s, pb::RolloutStrategy* out) {
  out->set_all_at_once(s.waves.empty() && s.canary.is_percent && s.canary.percent >= 100 && !s.health_gates);
  ToProto(s.canary, out->mutable_canary());
  out->set_canary_per_site(s.canary_per_site);
  for (const auto& w : s.waves) ToProto(w, out->add_waves());
  out->set_max_parallel(s.max_parallel);
  ToProto(s.site_budget, out->mutable_site_budget());
  out->set_soak_seconds(s.soak_seconds);
  out->set_device_timeout_seconds(s.device_timeout_seconds);
  out->set_success_threshold(s.success_threshold);
  out->set_failure_threshold(s.failure_threshold);
  out->set_health_gates(s.health_gates);
  out->set_min_requests(s.min_requests);
  out->set_max_latency_regression(s.max_latency_regression);
  out->set_max_error_rate_increase(s.max_error_rate_increase);
  out->set_max_restarts(s.max_restarts);
  out->set_health_timeout_seconds(s.health_timeout_seconds);
  out->set_on_failure(std::string(Name(s.on_failure)));
  out->set_insufficient_traffic(std::string(Name(s.insufficient_traffic)));
}

void RolloutToProto(const Rollout& r, bool with_devices, pb::Rollout* out) {
  out->set_id(r.id);
  out->set_model(r.model);
  out->set_version(r.version);
  for (const auto& s : r.target.sites) out->mutable_target()->add_sites(s);
  out->mutable_target()->set_selector(r.target.selector);
  for (const auto& d : r.target.devices) out->mutable_target()->add_devices(d);
  StrategyToProto(r.strategy, out->mutable_strategy());
  out->set_state(std::string(Name(r.state)));
  out->set_wave(r.wave);
  out->set_wave_count(r.WaveCount());
  out->set_reason(r.reason);
  out->set_created_by(r.created_by);
  out->set_created_at(r.created_at);
  out->set_updated_at(r.updated_at);
  out->set_devices_total(r.DeviceTotal());
  auto& counts = *out->mutable_counts();
  std::vector<pb::RolloutWave> waves(r.waves.size());
  for (size_t i = 0; i < waves.size(); ++i) {
    waves[i].set_index(static_cast<uint32_t>(i));
    waves[i].set_started_at(r.waves[i].started_at);
    waves[i].set_completed_at(r.waves[i].completed_at);
    waves[i].set_gate(r.waves[i].gate);
  }
  for (const auto& c : r.counts) {
    counts[std::string(Name(c.state))] += c.devices;
    if (c.wave < 0 || static_cast<size_t>(c.wave) >= waves.size()) continue;
    auto& w = waves[static_cast<size_t>(c.wave)];
    w.set_devices(w.devices() + c.devices);
    w.set_dispatched(w.dispatched() + c.dispatched);
    if (c.state == DeviceState::kUpdated) w.set_updated(w.updated() + c.devices);
    if (c.state == DeviceState::kFailed) w.set_failed(w.failed() + c.devices);
    if (c.state == DeviceState::kSkipped) w.set_skipped(w.skipped() + c.devices);
    if (c.state == DeviceState::kTimedOut) w.set_timed_out(w.timed_out() + c.devices);
  }
  if (with_devices) {
    for (const auto& d : r.devices) {
      auto* o = out->add_devices();
      o->set_id(d.id);
      o->set_site(d.site);
      o->set_state(std::string(Name(d.state)));
      o->set_wave(d.wave);
      o->set_from_version(d.from_version);
      o->set_dispatched_at(d.dispatched_at);
      o->set_done_at(d.done_at);
      o->set_detail(d.detail);
      o->set_dispatches(d.dispatches);
    }
  }
  for (auto& w : waves) *out->add_waves() = std::move(w);
}

void RolloutEventToProto(const RolloutEventRecord& e, pb::RolloutEvent* out) {
  out->set_id(e.id);
  out->set_at(e.at);
  out->set_kind(e.kind);
  out->set_device(e.device);
  out->set_detail(e.detail);
}

}  // namespace edge::controller
