// Group commit of agent reports. Each Connect stream hands its validated hello or status report
// here; reports gathered within a short window (or until a batch is full) are written in one
// store transaction, then each stream's continuation runs with its own outcome. One fsync per
// batch instead of two per report: at 10,000 agents reporting every 5 s that is the difference
// between 4,000 commits a second and a few dozen (docs/operations.md#scaling).
//
// Strand only. A stream waits for its report's outcome before it reads its next message, so
// at most one report per connected agent is ever pending.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/io_context.hpp>

#include "controller/store/store.h"

namespace edge::controller {

struct ReportIngestOptions {
  size_t max_batch = 512;                          // reports per transaction
  std::chrono::milliseconds max_delay{20};         // the longest a report waits for its batch
};

class ReportIngest {
 public:
  // Runs on the strand once the report's batch was written (or failed as a whole: then the
  // outcome's status carries the batch's error and nothing of it was stored).
  using Done = std::function<void(const AgentReportOutcome&)>;
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  // `before_batch` runs on the strand before each batch written on the ingest's own schedule
  // (the controller runs operators' waiting calls there: urgent_lane.h).
  ReportIngest(Strand& strand, std::unique_ptr<Store>& store, ReportIngestOptions options = {},
               std::function<void()> before_batch = {});

  void Add(AgentReport report, Done done);
  // Writes what is pending now, in batches of at most max_batch (shutdown, tests). On its own
  // schedule the ingest writes one batch per strand handler (a full one is posted, so a
  // continuation never runs inside Add; the rest of a backlog is posted again).
  void Flush();
  size_t pending() const { return reports_.size(); }
  // Totals since start: batches written and reports in them.
  uint64_t batches() const { return batches_; }
  uint64_t reports() const { return written_; }

 private:
  void WriteBatch();  // the oldest max_batch pending reports, in one transaction
  // One batch per strand handler: a backlog is written in handlers of their own.
  void WriteOneAndPostRest();
  void PostFlush();
  void ArmTimer();

  Strand& strand_;
  std::unique_ptr<Store>& store_;
  ReportIngestOptions options_;
  std::function<void()> before_batch_;
  boost::asio::steady_timer timer_;
  bool timer_armed_ = false;
  bool flush_posted_ = false;
  std::vector<AgentReport> reports_;
  std::vector<Done> done_;
  uint64_t batches_ = 0;
  uint64_t written_ = 0;
};

}  // namespace edge::controller
