#include "controller/api/report_ingest.h"

#include "common/core/log.h"

namespace edge::controller {

ReportIngest::ReportIngest(Strand& strand, std::unique_ptr<Store>& store, ReportIngestOptions options)
    : strand_(strand), store_(store), options_(options), timer_(strand) {
  if (options_.max_batch == 0) options_.max_batch = 1;
}

void ReportIngest::Add(AgentReport report, Done done) {
  reports_.push_back(std::move(report));
  done_.push_back(std::move(done));
  if (reports_.size() >= options_.max_batch) return Flush();
  if (timer_armed_) return;
  timer_armed_ = true;
  timer_.expires_after(options_.max_delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: a full batch was written first
    timer_armed_ = false;
    Flush();
  });
}

void ReportIngest::Flush() {
  if (timer_armed_) {
    timer_armed_ = false;
    timer_.cancel();
  }
  if (reports_.empty()) return;
  auto reports = std::move(reports_);
  auto done = std::move(done_);
  reports_.clear();
  done_.clear();
  auto outcomes = store_->RecordReports(reports);
  ++batches_;
  if (!outcomes) {
    log::Error("cannot record agent reports", {{"reports", reports.size()}, {"error", outcomes.error().message}});
    const AgentReportOutcome failed{Fail(outcomes.error()), std::nullopt};
    for (auto& d : done) d(failed);
    return;
  }
  written_ += reports.size();
  for (size_t i = 0; i < done.size(); ++i) done[i]((*outcomes)[i]);
}

}  // namespace edge::controller
