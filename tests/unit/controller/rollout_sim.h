// A simulated fleet for rollout planner tests: devices that report what the test says, a fake
// clock, and the planner's steps applied as the controller's driver applies them (dispatches set
// the device's desired version; the store records the incumbent's health as the baseline). With
// `persist`, every step goes through a real SQLite store and the rollout is read back from it
// before the next step: what a controller restarted after each step would plan from.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "controller/rollout/planner.h"
#include "store_fixture.h"

namespace edge::controller::testing {

namespace ro = edge::controller::rollout;

// Latency histogram bounds as the agent reports them (a subset is enough for the planner).
inline const std::vector<uint64_t> kBoundsUs = {10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000};

// A health sample of `version`: `n` requests, `errors` of them failed, all in the bucket whose
// upper bound is `us`.
inline ro::HealthSample Health(const std::string& version, uint64_t n, uint64_t errors, uint64_t us) {
  ro::HealthSample h;
  h.version = version;
  h.inferences = n;
  h.errors = errors;
  h.latency_bucket_upper_us = kBoundsUs;
  h.latency_counts.assign(kBoundsUs.size() + 1, 0);
  for (size_t i = 0; i < kBoundsUs.size(); ++i)
    if (kBoundsUs[i] == us) h.latency_counts[i] = n;
  return h;
}

class RolloutSim {
 public:
  // devices: id -> site. Every device starts online, committed on `incumbent` ("" = none).
  RolloutSim(ro::Strategy strategy, const std::vector<std::pair<std::string, std::string>>& devices,
             const std::string& incumbent = "1.0", bool persist = false)
      : persist_(persist) {
    for (const auto& [id, site] : devices) {
      ro::Observed o;
      o.id = id;
      o.site = site;
      o.online = true;
      o.active_version = incumbent;
      o.state = incumbent.empty() ? "" : "committed";
      o.floor = incumbent.empty() ? 0 : 1;
      fleet[id] = o;
      desired[id] = incumbent;
    }
    rollout.model = "detector";
    rollout.version = "2.0";
    rollout.security_version = 1;
    rollout.strategy = strategy;
    rollout.created_at = now;
    rollout.created_by = "operator/test";
    for (const auto& [id, site] : devices) rollout.target.devices.push_back(id);
    if (persist_) {
      store_ = std::make_unique<Fixture>();
      std::map<std::string, bool> sites;
      for (const auto& [id, site] : devices) {
        if (!sites[site]) store_->Site(site);
        sites[site] = true;
        store_->Enroll(id, site);
      }
      store_->Version("1.0", 1);
      store_->Version("2.0", 1);
      store_->Version("3.0", 1);
      auto created = store_->store->CreateRollout(rollout, now);
      REQUIRE(created);
      rollout = *created;
    }
  }

  // One planning step at the current time; returns it (its rollout already applied).
  ro::Step Tick() {
    ro::Inputs in;
    in.now = now;
    in.security_versions = security_versions;
    for (const auto& [id, o] : fleet)
      if (claimed.count(id) == 0 || claimed[id]) {
        in.devices.push_back(o);
        in.devices.back().desired_version = desired.at(id);
      }
    ro::Step step = ro::Plan(rollout, in);
    Apply(step);
    if (persist_) {
      // A controller restarted now plans from what was stored, with the same reports: nothing
      // more to dispatch, nothing more to say.
      ro::Step again = ro::Plan(rollout, in);
      CHECK(again.dispatches.empty());
      CHECK(again.events.empty());
    }
    return step;
  }

  // Ticks until nothing changes (at most `limit` steps at the same time).
  void Settle(int limit = 10) {
    for (int i = 0; i < limit; ++i)
      if (!Tick().changed) return;
  }

  ro::Step Control(ro::Control control) {
    auto step = ro::ApplyControl(rollout, control, "", now);
    REQUIRE(step);
    Apply(*step);
    return *step;
  }

  // The agent installs what it is told and commits it.
  void Commit(const std::string& id) {
    auto& o = fleet.at(id);
    o.active_version = desired.at(id);
    o.target_version = desired.at(id);
    o.state = "committed";
    o.detail = "active";
  }
  // Every device whose desired version it does not run yet commits it.
  void CommitAll() {
    for (auto& [id, o] : fleet)
      if (o.online && o.active_version != desired.at(id) && !desired.at(id).empty()) Commit(id);
  }
  // The agent fails (or rolls back) the version it was told, keeping its active one.
  void Fail(const std::string& id, const std::string& state = "rolled_back", const std::string& detail = "health gate failed") {
    auto& o = fleet.at(id);
    o.target_version = desired.at(id);
    o.state = state;
    o.detail = detail;
    o.failed_at[desired.at(id)] = now;
  }

  const ro::DeviceRow& Row(const std::string& id) const {
    for (const auto& row : rollout.devices)
      if (row.id == id) return row;
    FAIL("no row for " << id);
    return rollout.devices.front();
  }
  std::vector<std::string> InWave(int32_t w) const {
    std::vector<std::string> out;
    for (const auto& row : rollout.devices)
      if (row.wave == w) out.push_back(row.id);
    return out;
  }
  size_t Count(ro::DeviceState s) const {
    size_t n = 0;
    for (const auto& row : rollout.devices) n += row.state == s ? 1 : 0;
    return n;
  }
  std::vector<std::string> EventKinds() const {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.kind);
    return out;
  }
  bool HasEvent(const std::string& kind, const std::string& device = "") const {
    for (const auto& e : events)
      if (e.kind == kind && (device.empty() || e.device == device)) return true;
    return false;
  }
  // Health of the version each device runs, for every device.
  void ServeAll(uint64_t n, uint64_t errors, uint64_t us) {
    for (auto& [id, o] : fleet) o.health = Health(o.active_version, n, errors, us);
  }

  int64_t now = kT0;
  ro::Rollout rollout;
  std::map<std::string, ro::Observed> fleet;
  std::map<std::string, std::string> desired;
  std::map<std::string, int> sent;          // dispatches per device (both directions)
  std::map<std::string, bool> claimed;      // absent = claimed by this rollout
  std::map<std::string, uint64_t> security_versions = {{"1.0", 1}, {"2.0", 1}, {"3.0", 1}};
  std::vector<ro::Event> events;

 private:
  void Apply(const ro::Step& step) {
    for (const auto& d : step.dispatches) {
      desired[d.device] = d.version;
      ++sent[d.device];
    }
    for (const auto& e : step.events) events.push_back(e);
    if (persist_) {
      if (step.changed) REQUIRE(store_->store->SaveRolloutStep(step, "", "", now));
      auto back = store_->store->GetRollout(rollout.id);
      REQUIRE(back);
      rollout = *back;
      return;
    }
    rollout = step.rollout;
    for (auto& row : rollout.devices) {
      // What the store does at a dispatch: the incumbent's latest health is the row's baseline.
      for (const auto& d : step.dispatches)
        if (d.device == row.id && !d.revert) {
          const auto& o = fleet.at(row.id);
          row.baseline = o.health && o.health->version == row.from_version ? o.health : std::nullopt;
        }
      row.dirty = false;
    }
  }

  bool persist_;
  std::unique_ptr<Fixture> store_;
};

// n devices over the given sites, round-robin: gw-01 at sites[0], gw-02 at sites[1], ...
inline std::vector<std::pair<std::string, std::string>> Devices(size_t n, const std::vector<std::string>& sites) {
  std::vector<std::pair<std::string, std::string>> out;
  for (size_t i = 0; i < n; ++i) {
    const std::string n = std::to_string(i + 1);
    out.push_back({"gw-" + std::string(n.size() < 2 ? 2 - n.size() : 0, '0') + n, sites[i % sites.size()]});
  }
  return out;
}

// A strategy with health gates off and no soak unless a test sets them.
inline ro::Strategy Plain() {
  ro::Strategy s;
  s.health_gates = false;
  s.soak_seconds = 0;
  return s;
}

}  // namespace edge::controller::testing
