// Agent reports into the store's device tables (devices.last_seen and agent_version,
// reported_models, device_health and its history, device_events; in cluster mode sessions), on
// the SQL layer. Internal to the store (sql_store.cpp): each function runs inside the caller's
// write transaction, except RecordHello (one statement).
//
// Reports are written as a group: one statement per table for all of them (common/sql/
// row_batch.h), not several per report, because on PostgreSQL every statement is a round trip.
// A single call is a group of one, so there is one way each table is written.
#pragma once

#include <string>
#include <vector>

#include "common/sql/connection.h"
#include "controller/store/store.h"

namespace edge::controller::sql_reports {

// Store::RecordReports: each report stored or refused alone, with its own outcome. A failure
// that is not one report's (kUnavailable: a conflict with another writer, a lost connection)
// fails the call, and Connection::Write runs the batch again after a conflict.
Result<std::vector<AgentReportOutcome>> RecordBatch(sql::Connection& db, const StoreOptions& options,
                                                    const std::vector<AgentReport>& reports);

Status RecordHello(sql::Connection& db, const std::string& id, const std::string& agent_version, int64_t now);
Status RecordModels(sql::Connection& db, const std::string& id, const std::vector<ReportedModelRecord>& models,
                    int64_t now);
Status RecordHealth(sql::Connection& db, const StoreOptions& options, const std::string& id, const HealthRecord& h);
Result<EventsRecorded> RecordEvents(sql::Connection& db, const StoreOptions& options, const std::string& id,
                                    const std::vector<UpdateEventRecord>& events, int64_t now);

}  // namespace edge::controller::sql_reports
