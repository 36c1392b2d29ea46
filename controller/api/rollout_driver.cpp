#include "controller/api/rollout_driver.h"

#include <algorithm>
#include <map>

#include <boost/asio/post.hpp>
#include <nlohmann/json.hpp>

#include "common/bundle/bundle.h"
#include "common/core/log.h"
#include "controller/api/cluster.h"
#include "controller/api/context.h"

namespace edge::controller {

using namespace rollout;

namespace {

constexpr auto kTickEvery = std::chrono::seconds(1);
constexpr auto kSoon = std::chrono::milliseconds(100);
constexpr uint32_t kRestartHistory = 120;

bool Contains(const std::vector<std::string>& list, const std::string& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// Agent restarts seen in the device's history since `since` (controller clock): its uptime
// went down between two reports.
uint32_t RestartsSince(Store& store, const std::string& device, int64_t since) {
  auto history = store.HealthHistory(device, kRestartHistory);  // newest first
  if (!history) return 0;
  uint32_t restarts = 0;
  for (size_t i = 0; i + 1 < history->size(); ++i) {
    const auto& newer = (*history)[i];
    const auto& older = (*history)[i + 1];
    if (newer.received_at < since) break;
    if (newer.uptime_seconds < older.uptime_seconds) ++restarts;
  }
  return restarts;
}

std::optional<rollout::HealthSample> ModelHealth(Store& store, const std::string& device, const std::string& model) {
  auto latest = store.LatestHealth(device);
  if (!latest || !*latest) return std::nullopt;
  for (const auto& m : (*latest)->models)
    if (m.model == model)
      return rollout::HealthSample{m.version, m.inferences, m.errors, m.latency_bucket_upper_us, m.latency_counts, m.last_selftest,
                          m.last_selftest_at};
  return std::nullopt;
}

bool WaveDone(const Rollout& r) {
  for (const auto& row : r.devices)
    if (row.wave == static_cast<int32_t>(r.wave) &&
        (row.state == DeviceState::kPending || row.state == DeviceState::kDispatched))
      return false;
  return true;
}

}  // namespace

bool TargetMatches(const Target& target, const Selector& selector, const FleetDeviceRecord& d) {
  if (target.Empty()) return false;
  if (!target.sites.empty() && !Contains(target.sites, d.site)) return false;
  if (!target.devices.empty() && !Contains(target.devices, d.id)) return false;
  return selector.Matches(d.labels);
}

std::string CompatProblem(const std::string& manifest_arch, const std::string& facts_json) {
  if (manifest_arch.empty()) return "";
  const auto facts = nlohmann::json::parse(facts_json, nullptr, false);
  if (!facts.is_object() || !facts.contains("arch") || !facts["arch"].is_string()) return "";
  const auto arch = facts["arch"].get<std::string>();
  if (arch.empty() || arch == manifest_arch) return "";
  return "the bundle needs arch " + manifest_arch + ", the device is " + arch;
}

std::chrono::steady_clock::duration SoonTickDelay(std::chrono::steady_clock::duration since_last_end,
                                                  std::chrono::steady_clock::duration last_cost,
                                                  std::chrono::steady_clock::duration soon) {
  return std::max(soon, 4 * last_cost - since_last_end);
}

RolloutDriver::RolloutDriver(ControllerContext& ctx) : ctx_(ctx) {}

bool RolloutDriver::Planning() const { return !ctx_.cluster || ctx_.cluster->planner(); }

Status RolloutDriver::TimedTick() {
  const auto start = std::chrono::steady_clock::now();
  auto s = Tick();
  last_tick_end_ = std::chrono::steady_clock::now();
  last_tick_cost_ = last_tick_end_ - start;
  return s;
}

void RolloutDriver::Start() {
  periodic_ = std::make_unique<boost::asio::steady_timer>(ctx_.strand);
  soon_ = std::make_unique<boost::asio::steady_timer>(ctx_.strand);
  Schedule(std::chrono::milliseconds(0));
}

void RolloutDriver::Stop() {
  stopped_ = true;
  if (periodic_) periodic_->cancel();
  if (soon_) soon_->cancel();
}

void RolloutDriver::Schedule(std::chrono::milliseconds delay) {
  if (stopped_ || !periodic_) return;
  periodic_->expires_after(delay);
  periodic_->async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    ctx_.urgent.RunWaiting();  // operators' calls first: a tick can take 100 ms at 10,000 devices
    if (Planning()) (void)TimedTick();  // a failing model is logged by Tick
    Schedule(std::chrono::duration_cast<std::chrono::milliseconds>(kTickEvery));
  });
}

void RolloutDriver::Poke(const std::string& device_id, bool membership) {
  if (stopped_ || !soon_ || soon_pending_ || !Planning()) return;
  if (!membership && !watched_.count(device_id)) return;
  soon_pending_ = true;
  soon_->expires_after(SoonTickDelay(std::chrono::steady_clock::now() - last_tick_end_, last_tick_cost_, kSoon));
  soon_->async_wait([this](const boost::system::error_code& ec) {
    soon_pending_ = false;
    if (ec || stopped_ || !Planning()) return;
    ctx_.urgent.RunWaiting();
    (void)TimedTick();  // a failing model is logged by Tick
  });
}

Status RolloutDriver::Tick() {
  EDGE_ASSIGN_OR_RETURN(auto live, ctx_.store->LiveRollouts());
  std::map<std::string, std::vector<Rollout>> by_model;
  for (auto& r : live) by_model[r.model].push_back(std::move(r));
  watched_.clear();
  gate_health_next_.clear();
  // One model's failure (its store write, say) does not hold the other models' rollouts back.
  Status first = Ok();
  for (auto& [model, rollouts] : by_model) {
    if (auto s = PlanModel(model, rollouts); !s) {
      log::Error("rollout step failed", {{"model", model}, {"error", s.error().message}});
      if (first) first = s;
    }
  }
  gate_health_.swap(gate_health_next_);  // what this tick did not need is forgotten
  return first;
}

Status RolloutDriver::PlanModel(const std::string& model, std::vector<Rollout>& rollouts) {
  EDGE_ASSIGN_OR_RETURN(auto fleet, ctx_.store->FleetForModel(model));
  EDGE_ASSIGN_OR_RETURN(auto versions, ctx_.store->ListVersions());
  const int64_t now = ctx_.clock.NowUnix();
  std::map<std::string, uint64_t> security_versions;
  std::map<std::string, std::string> arch_of;
  for (const auto& v : versions) {
    if (v.model != model) continue;
    security_versions[v.version] = v.security_version;
    if (auto env = bundle::ParseEnvelope(v.envelope))
      if (auto m = bundle::ParseManifest(env->payload)) arch_of[v.version] = m->compat.arch;
  }
  // The live rollouts come without their device rows. Those that can move are read whole; a
  // dormant one (completed, every row superseded or skipped: a newer rollout took its devices)
  // only if it claims a device below, one that joined its standing target.
  for (auto& r : rollouts) {
    if (r.Dormant()) continue;
    EDGE_ASSIGN_OR_RETURN(r, ctx_.store->GetRollout(r.id));
  }
  // Claims: each device belongs to the newest rollout that wants it: a running, paused or
  // completed one whose target matches it, or a reverting one that moved it (so a revert is
  // never cut short by an older rollout of the same target).
  std::vector<Selector> selectors;
  for (const auto& r : rollouts) {
    auto sel = Selector::Parse(r.target.selector);
    selectors.push_back(sel ? std::move(*sel) : Selector());
    if (!sel) log::Error("rollout has an unreadable selector", {{"rollout", r.id}, {"error", sel.error().message}});
  }
  std::vector<std::vector<const FleetDeviceRecord*>> claimed(rollouts.size());
  std::vector<std::set<std::string>> has_row(rollouts.size());
  for (size_t i = 0; i < rollouts.size(); ++i)
    if (rollouts[i].state == State::kReverting)
      for (const auto& row : rollouts[i].devices)
        if (row.state != DeviceState::kSuperseded && row.state != DeviceState::kPending) has_row[i].insert(row.id);
  for (const auto& d : fleet) {
    std::optional<size_t> owner;
    for (size_t i = rollouts.size(); i-- > 0 && !owner;) {
      const bool wants = rollouts[i].state == State::kReverting ? has_row[i].count(d.id) > 0
                                                                 : TargetMatches(rollouts[i].target, selectors[i], d);
      if (wants) owner = i;
    }
    if (owner) claimed[*owner].push_back(&d);
  }
  for (size_t i = 0; i < rollouts.size(); ++i) {
    if (!rollouts[i].rows_loaded) {
      if (claimed[i].empty()) continue;  // nothing it could change
      EDGE_ASSIGN_OR_RETURN(auto whole, ctx_.store->GetRollout(rollouts[i].id));
      if (whole.revision != rollouts[i].revision) continue;  // changed elsewhere since: the next tick plans it
      rollouts[i] = std::move(whole);
    }
    const Rollout& r = rollouts[i];
    std::map<std::string, const DeviceRow*> rows;
    for (const auto& row : r.devices) rows[row.id] = &row;
    // Health and restarts feed only the health gate: read them (two queries per device) only
    // while a wave with gates on is being judged.
    const bool gate_due = r.state == State::kRunning && r.strategy.health_gates && WaveDone(r);
    Inputs in;
    in.now = now;
    in.security_versions = security_versions;
    for (const auto* d : claimed[i]) {
      Observed o;
      o.id = d->id;
      o.site = d->site;
      o.online = ctx_.Online(d->id);
      if (d->reported) {
        o.active_version = d->reported->version;
        o.state = d->reported->state;
        o.target_version = d->reported->target_version;
        o.detail = d->reported->detail;
        o.floor = d->reported->security_floor;
      }
      o.failed_at = d->failed_at;
      o.desired_version = d->desired_version;
      o.incompatible = CompatProblem(arch_of[r.version], d->facts_json);
      auto row = rows.find(d->id);
      if (gate_due && row != rows.end() && row->second->wave == static_cast<int32_t>(r.wave) &&
          row->second->state == DeviceState::kUpdated) {
        const auto& gate = GateHealthOf(model, *d, row->second->dispatched_at);
        o.health = gate.health;
        o.restarts_since_dispatch = gate.restarts;
      }
      in.devices.push_back(std::move(o));
    }
    Step step = Plan(r, in);
    for (const auto& row : step.rollout.devices)
      if (row.state == DeviceState::kDispatched || row.state == DeviceState::kReverting ||
          (row.state == DeviceState::kUpdated && row.wave == static_cast<int32_t>(step.rollout.wave)))
        watched_.insert(row.id);
    if (!step.changed) continue;
    EDGE_ASSIGN_OR_RETURN(auto changed, ctx_.store->SaveRolloutStep(step, "", "", now));
    for (const auto& e : step.events)
      if (e.device.empty())
        log::Info("rollout " + e.kind, {{"rollout", r.id}, {"model", model}, {"version", r.version}, {"detail", e.detail}});
    ctx_.NotifyDevices(changed);
  }
  return Ok();
}

const RolloutDriver::GateHealth& RolloutDriver::GateHealthOf(const std::string& model, const FleetDeviceRecord& d,
                                                             int64_t since) {
  const std::string key = model + "\n" + d.id;
  // The row's report count changes with every stored report (its updated_at, whole seconds,
  // did not for two reports in one second: a failed self-test right after a healthy report).
  const uint64_t reports = d.reported ? d.reported->reports : 0;
  auto known = gate_health_.find(key);
  if (known != gate_health_.end() && reports != 0 && known->second.reports == reports && known->second.since == since)
    return gate_health_next_[key] = known->second;
  return gate_health_next_[key] = GateHealth{reports, since, ModelHealth(*ctx_.store, d.id, model),
                                             RestartsSince(*ctx_.store, d.id, since)};
}

Result<Rollout> RolloutDriver::Create(Rollout r, bool allow_empty) {
  EDGE_ASSIGN_OR_RETURN(auto selector, Selector::Parse(r.target.selector));
  EDGE_ASSIGN_OR_RETURN(auto fleet, ctx_.store->FleetForModel(r.model));
  size_t matching = 0;
  for (const auto& d : fleet) matching += TargetMatches(r.target, selector, d) ? 1 : 0;
  if (matching == 0 && !allow_empty)
    return Fail(ErrorCode::kFailedPrecondition,
                "0 devices match the target: nothing deployed (allow an empty, standing target with --allow-empty)");
  EDGE_ASSIGN_OR_RETURN(auto created, ctx_.store->CreateRollout(std::move(r), ctx_.clock.NowUnix()));
  // Elsewhere the planner hears of it through the change feed and takes its first step.
  if (Planning()) EDGE_TRY(TimedTick());
  return ctx_.store->GetRollout(created.id);
}

Result<Rollout> RolloutDriver::Control(int64_t id, rollout::Control control, const std::string& reason,
                                       const std::string& actor) {
  static constexpr const char* kActions[] = {"rollout.pause", "rollout.resume", "rollout.abort", "rollout.revert"};
  // Another controller's planner may save a step between the read and the write (the save is
  // refused then): applied again to what it wrote, a few times.
  for (int attempt = 1;; ++attempt) {
    EDGE_ASSIGN_OR_RETURN(auto current, ctx_.store->GetRollout(id));
    EDGE_ASSIGN_OR_RETURN(auto step, ApplyControl(current, control, reason, ctx_.clock.NowUnix()));
    auto saved = ctx_.store->SaveRolloutStep(step, actor, kActions[static_cast<int>(control)], ctx_.clock.NowUnix());
    if (!saved && attempt < 5) {
      auto now = ctx_.store->GetRollout(id);
      if (now && now->revision != current.revision) continue;
    }
    if (!saved) return Fail(saved.error());
    break;
  }
  if (Planning()) EDGE_TRY(TimedTick());
  return ctx_.store->GetRollout(id);
}

}  // namespace edge::controller
