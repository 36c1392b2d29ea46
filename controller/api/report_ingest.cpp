#include "controller/api/report_ingest.h"

#include <algorithm>
#include <iterator>

#include <boost/asio/post.hpp>

#include "common/core/log.h"

namespace edge::controller {

ReportIngest::ReportIngest(Strand& strand, std::unique_ptr<Store>& store, ReportIngestOptions options,
                           std::function<void()> before_batch)
    : strand_(strand), store_(store), options_(options), before_batch_(std::move(before_batch)), timer_(strand) {
  if (options_.max_batch == 0) options_.max_batch = 1;
}

void ReportIngest::WriteOneAndPostRest() {
  if (reports_.empty()) return;  // a timer armed before a full batch took everything
  if (before_batch_) before_batch_();
  WriteBatch();
  // The rest in handlers of their own: others (an operator's call) get the strand in between.
  if (reports_.size() >= options_.max_batch) {
    PostFlush();
  } else if (!reports_.empty() && !timer_armed_) {
    ArmTimer();
  }
}

void ReportIngest::PostFlush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  boost::asio::post(strand_, [this] {
    flush_posted_ = false;
    WriteOneAndPostRest();
  });
}

void ReportIngest::ArmTimer() {
  timer_armed_ = true;
  timer_.expires_after(options_.max_delay);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: a full batch was written first
    timer_armed_ = false;
    WriteOneAndPostRest();
  });
}

void ReportIngest::Add(AgentReport report, Done done) {
  reports_.push_back(std::move(report));
  done_.push_back(std::move(done));
  if (reports_.size() >= options_.max_batch) {
    // Written next on the strand, never inside Add: the continuations must not run in the
    // caller's stack (a stream calls Add holding its own lock, which its continuation takes).
    PostFlush();
    return;
  }
  if (!timer_armed_) ArmTimer();
}

void ReportIngest::Flush() {
  if (timer_armed_) {
    timer_armed_ = false;
    timer_.cancel();
  }
  while (!reports_.empty()) WriteBatch();
}

void ReportIngest::WriteBatch() {
  // At most max_batch reports per transaction (more may have come before a posted flush ran).
  const size_t n = std::min(reports_.size(), options_.max_batch);
  std::vector<AgentReport> reports(std::make_move_iterator(reports_.begin()), std::make_move_iterator(reports_.begin() + n));
  std::vector<Done> done(std::make_move_iterator(done_.begin()), std::make_move_iterator(done_.begin() + n));
  reports_.erase(reports_.begin(), reports_.begin() + n);
  done_.erase(done_.begin(), done_.begin() + n);
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
