// The SQLite store's rollout tables (migration 004). Internal to the SQLite store: its methods
// call these inside its own transactions.
#pragma once

#include <string>
#include <vector>

#include "common/sqlite/db.h"
#include "controller/store/store.h"

namespace edge::controller::sqlite_rollouts {

Result<rollout::Rollout> Insert(sqlite::Db& db, rollout::Rollout rollout);
// `where` is a fixed SQL condition on the rollouts table (never input); `order_limit` likewise.
Result<std::vector<rollout::Rollout>> Load(sqlite::Db& db, const std::string& where, const std::string& order_limit,
                                           int64_t bind_id = 0);
// Writes the step; returns the devices whose desired state changed.
Result<std::vector<std::string>> SaveStep(sqlite::Db& db, const rollout::Step& step, int64_t now);
Result<std::vector<RolloutEventRecord>> Events(sqlite::Db& db, int64_t id, int64_t after_id, uint32_t limit);
Result<std::vector<FleetDeviceRecord>> Fleet(sqlite::Db& db, const std::string& model);
// Sets devices' desired versions, its statements prepared once for many devices.
class DesiredWriter {
 public:
  static Result<DesiredWriter> Prepare(sqlite::Db& db);
  // Sets the device's desired version of `model` and bumps its generation; false if unchanged.
  Result<bool> Set(const std::string& device, const std::string& model, const std::string& version, int64_t now);

 private:
  DesiredWriter(sqlite::Db& db, sqlite::Statement cur, sqlite::Statement up, sqlite::Statement gen)
      : db_(&db), cur_(std::move(cur)), up_(std::move(up)), gen_(std::move(gen)) {}
  sqlite::Db* db_;
  sqlite::Statement cur_, up_, gen_;
};

}  // namespace edge::controller::sqlite_rollouts
