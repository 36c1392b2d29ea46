// Which version of each model serves, and the engine models loaded for it (the serving one and,
// during probation, the one to roll back to). Thread-safe: each model's update steps run on that
// model's own worker, so a rollback of one model never waits for another model's download.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "agent/engine/engine.h"
#include "agent/serve/registry.h"
#include "agent/store/model_repo.h"
#include "common/core/result.h"

namespace edge::agent {

class ServingSet {
 public:
  ServingSet(ModelRepo& repo, serve::Registry& registry) : repo_(repo), registry_(registry) {}

  // New requests of `model` get `version` (loaded from its installed directory unless already
  // loaded); empty `version` stops serving the model. Keeps the statistics when it already serves.
  Status Serve(const std::string& model, const std::string& version);
  // A model the health gate already loaded, kept for Serve.
  void Adopt(const std::string& model, const std::string& version, std::shared_ptr<const engine::Model> loaded);
  std::shared_ptr<const engine::Model> Loaded(const std::string& model, const std::string& version) const;
  // `current` and serving back on `active` (nothing when none was committed). Idempotent.
  Status Restore(const std::string& model, const std::string& active);
  // The blobs `model`'s update in flight needs (empty: none). Set on the agent's loop before the
  // update's download step is started, so a collection never removes a blob the download found
  // on disk and skipped.
  void Pin(const std::string& model, std::set<std::string> digests);
  // Drops loaded versions other than `keep`, removes installed versions that are neither
  // current nor previous, then the blobs of `dropped` (a target that no longer runs) that
  // nothing uses and no update in flight pins, and old unused unpinned blobs.
  void Collect(const std::string& model, const std::string& keep, const std::set<std::string>& dropped);
  // The version new requests of `model` get ("" when it is not served).
  std::string Serving(const std::string& model) const;

 private:
  ModelRepo& repo_;
  serve::Registry& registry_;
  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, std::shared_ptr<const engine::Model>>> loaded_;
  std::mutex pins_mu_;  // held while pins change and while blobs are removed
  std::map<std::string, std::set<std::string>> pins_;
};

}  // namespace edge::agent
