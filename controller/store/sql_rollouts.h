// The store's rollout tables (SQLite migration 004, PostgreSQL 007), on the SQL layer. Internal
// to the store (sql_store.cpp): its methods call these inside their own transactions.
#pragma once

#include <string>
#include <vector>

#include "common/sql/connection.h"
#include "controller/store/store.h"

namespace edge::controller::sql_rollouts {

Result<rollout::Rollout> Insert(sql::Connection& db, rollout::Rollout rollout);
// Rollouts with their device rows (and counts made from them), or with the stored counts only
// (rows_loaded false).
enum class Rows { kAll, kCounts };
// `where` is a fixed SQL condition on the rollouts table (never input); `order_limit` likewise.
// `params` are bound to ?1, ?2, ... in both.
Result<std::vector<rollout::Rollout>> Load(sql::Connection& db, Rows rows, const std::string& where,
                                           const std::string& order_limit, const std::vector<int64_t>& params = {});
// Writes the step; returns the devices whose desired state changed.
Result<std::vector<std::string>> SaveStep(sql::Connection& db, const rollout::Step& step, int64_t now);
Result<std::vector<RolloutEventRecord>> Events(sql::Connection& db, int64_t id, int64_t after_id, uint32_t limit);
Result<std::vector<FleetDeviceRecord>> Fleet(sql::Connection& db, const std::string& model);
// Sets devices' desired versions, its statements prepared once for many devices.
class DesiredWriter {
 public:
  static Result<DesiredWriter> Prepare(sql::Connection& db);
  // Sets the device's desired version of `model` and bumps its generation; false if unchanged.
  Result<bool> Set(const std::string& device, const std::string& model, const std::string& version, int64_t now);

 private:
  DesiredWriter(sql::Connection& db, sql::Statement cur, sql::Statement up, sql::Statement gen)
      : db_(&db), cur_(std::move(cur)), up_(std::move(up)), gen_(std::move(gen)) {}
  sql::Connection* db_;
  sql::Statement cur_, up_, gen_;
};

}  // namespace edge::controller::sql_rollouts
