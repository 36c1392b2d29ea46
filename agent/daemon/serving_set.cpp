#include "agent/daemon/serving_set.h"

#include "common/core/log.h"

namespace edge::agent {

Status ServingSet::Serve(const std::string& model, const std::string& version) {
  if (version.empty()) {
    registry_.Remove(model);
    return Ok();
  }
  auto loaded = Loaded(model, version);
  if (!loaded) {
    // Loaded outside the lock: another model's rollback does not wait for this load.
    const auto path = repo_.VersionDir(model, version) / "model";
    auto m = engine::Model::LoadFile(path.string());
    if (!m) return Fail(m.error().Wrap("loading " + model + ":" + version));
    loaded = std::move(*m);
    Adopt(model, version, loaded);
  }
  // Already serving exactly this: keep it (and its statistics).
  if (auto served = registry_.Find(model, version); served && &(*served)->model() == loaded.get()) return Ok();
  registry_.Activate(model, version, loaded);
  return Ok();
}

void ServingSet::Adopt(const std::string& model, const std::string& version,
                       std::shared_ptr<const engine::Model> loaded) {
  std::lock_guard lock(mu_);
  loaded_[model][version] = std::move(loaded);
}

std::shared_ptr<const engine::Model> ServingSet::Loaded(const std::string& model, const std::string& version) const {
  std::lock_guard lock(mu_);
  auto m = loaded_.find(model);
  if (m == loaded_.end()) return nullptr;
  auto v = m->second.find(version);
  return v == m->second.end() ? nullptr : v->second;
}

Status ServingSet::Restore(const std::string& model, const std::string& active) {
  EDGE_TRY(repo_.RestoreCurrent(model, active));
  return Serve(model, active);
}

void ServingSet::Pin(const std::string& model, std::set<std::string> digests) {
  std::lock_guard lock(pins_mu_);
  if (digests.empty()) {
    pins_.erase(model);
  } else {
    pins_[model] = std::move(digests);
  }
}

std::string ServingSet::Serving(const std::string& model) const {
  auto stats = registry_.Snapshot(model);
  return stats ? stats->version : std::string();
}

void ServingSet::Collect(const std::string& model, const std::string& keep, const std::set<std::string>& dropped) {
  {
    std::lock_guard lock(mu_);
    auto& versions = loaded_[model];
    for (auto it = versions.begin(); it != versions.end();) it = it->first == keep ? std::next(it) : versions.erase(it);
  }
  if (int n = repo_.CollectVersions(model); n > 0) log::Info("removed old versions", {{"model", model}, {"count", n}});
  std::lock_guard lock(pins_mu_);
  std::set<std::string> pinned, unneeded;
  for (const auto& [m, digests] : pins_) pinned.insert(digests.begin(), digests.end());
  for (const auto& d : dropped)
    if (!pinned.count(d)) unneeded.insert(d);
  int n = repo_.RemoveUnusedBlobs(unneeded);
  n += repo_.CollectBlobs(std::chrono::hours(1), pinned);
  if (n > 0) log::Info("removed unused blobs", {{"count", n}});
}

}  // namespace edge::agent
