#include "controller/api/cluster.h"

#include <unistd.h>

#include <algorithm>

#include <boost/asio/bind_executor.hpp>

#include "common/core/log.h"
#include "controller/api/context.h"
#include "controller/api/rollout_driver.h"

namespace edge::controller {

namespace {

// A controller stops planning this long before its lease expires by its own clock: the next
// renewal is due well before, and another controller's clock may run a little ahead.
constexpr int64_t kLeaseMarginSeconds = 3;
// Entries read per query; more are read at the next poll (the cursor does not skip them).
constexpr uint32_t kChangesPerRead = 2000;
// A seq skipped over is waited for this long before it counts as a rolled-back transaction's.
constexpr auto kGapHold = std::chrono::seconds(30);
// Seqs jumped over at once beyond this are not tracked as gaps (a restored or reset sequence).
constexpr int64_t kMaxGapsTracked = 10000;

}  // namespace

std::vector<FleetChange> ChangeCursor::Take(const std::vector<FleetChange>& read, Clock::time_point now) {
  std::vector<FleetChange> sorted = read;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  std::vector<FleetChange> out;
  for (auto& c : sorted) {
    if (c.seq > high_) {
      if (c.seq - high_ - 1 <= kMaxGapsTracked)
        for (int64_t s = high_ + 1; s < c.seq; ++s) gaps_.emplace(s, now);
      high_ = c.seq;
      out.push_back(std::move(c));
    } else if (gaps_.erase(c.seq) > 0) {
      out.push_back(std::move(c));
    }
  }
  for (auto it = gaps_.begin(); it != gaps_.end();) it = now - it->second >= hold_ ? gaps_.erase(it) : std::next(it);
  return out;
}

Cluster::Cluster(ControllerContext& ctx, ClusterOptions options)
    : ctx_(ctx), options_(std::move(options)), cursor_(0, kGapHold), beat_timer_(ctx.strand), poll_timer_(ctx.strand) {}

Cluster::~Cluster() {
  if (listen_fd_) listen_fd_->close();
}

Status Cluster::Start(const std::string& agent_endpoint, const std::string& operator_endpoint) {
  options_.self.agent_endpoint = agent_endpoint;
  options_.self.operator_endpoint = operator_endpoint;
  EDGE_ASSIGN_OR_RETURN(auto last, ctx_.store->LastChange());
  cursor_ = ChangeCursor(last, kGapHold);
  EDGE_ASSIGN_OR_RETURN(lease_, ctx_.store->Heartbeat(options_.self, options_.times, ctx_.clock.NowUnix()));
  log::Info("joined the controllers sharing the database",
            {{"controller", id()}, {"planner", lease_.holder.empty() ? "none" : lease_.holder}, {"epoch", lease_.epoch}});
  if (!options_.listen_url.empty()) Listen();
  ArmBeat();
  ArmPoll();
  return Ok();
}

void Cluster::Stop() {
  if (stopped_) return;
  stopped_ = true;
  beat_timer_.cancel();
  poll_timer_.cancel();
  if (listen_fd_) listen_fd_->close();
  listen_fd_.reset();
  listener_.reset();
  if (auto s = ctx_.store->LeaveCluster(id()); !s)
    log::Warn("cannot leave the cluster cleanly (its agents count as offline once its heartbeat is stale)",
              {{"error", s.error().message}});
}

bool Cluster::planner() const {
  return !stopped_ && lease_.holder == id() && ctx_.clock.NowUnix() < lease_.expires_at - kLeaseMarginSeconds;
}

bool Cluster::ConnectedElsewhere(const std::string& device_id) {
  const auto now = std::chrono::steady_clock::now();
  if (now - elsewhere_at_ >= std::chrono::seconds(1)) {
    elsewhere_at_ = now;
    auto online = ctx_.store->OnlineElsewhere(id(), options_.times, ctx_.clock.NowUnix());
    if (online) {
      elsewhere_ = std::set<std::string>(online->begin(), online->end());
    } else {
      log::Warn("cannot read which devices other controllers hold", {{"error", online.error().message}});
      elsewhere_.clear();
    }
  }
  return elsewhere_.count(device_id) > 0;
}

void Cluster::Beat() {
  const bool was = planner();
  auto lease = ctx_.store->Heartbeat(options_.self, options_.times, ctx_.clock.NowUnix());
  if (!lease) {
    // The lease lapses by the clock (planner() turns false) if this goes on.
    log::Warn("heartbeat failed", {{"controller", id()}, {"error", lease.error().message}});
  } else {
    lease_ = *lease;
  }
  const bool is = planner();
  if (!was && is) {
    log::Info("this controller runs the rollout planner", {{"controller", id()}, {"epoch", lease_.epoch}});
    if (ctx_.rollouts) ctx_.rollouts->Poke("", /*membership=*/true);
  } else if (was && !is) {
    log::Warn("this controller no longer runs the rollout planner",
              {{"controller", id()}, {"holder", lease_.holder}, {"epoch", lease_.epoch}});
  }
  ctx_.metrics.planner.Set(is ? 1 : 0);
  if (!listener_ && !options_.listen_url.empty()) Listen();
}

void Cluster::Poll() {
  if (stopped_) return;
  std::vector<FleetChange> read;
  auto fresh = ctx_.store->ChangesSince(cursor_.high(), kChangesPerRead);
  if (!fresh) {
    log::Warn("cannot read the change feed", {{"error", fresh.error().message}});
    return;
  }
  read = std::move(*fresh);
  if (auto below = cursor_.below_gaps()) {
    auto late = ctx_.store->ChangesSince(*below, kChangesPerRead);
    if (late) read.insert(read.end(), late->begin(), late->end());
  }
  auto changes = cursor_.Take(read, std::chrono::steady_clock::now());
  if (!changes.empty()) Act(changes);
  // A full read leaves more behind: read on at once.
  if (fresh->size() >= kChangesPerRead) boost::asio::post(ctx_.strand, [this] { Poll(); });
}

void Cluster::Act(const std::vector<FleetChange>& changes) {
  std::set<std::string> notify;
  bool trust = false, plan = false;
  for (const auto& c : changes) {
    if (c.origin == id()) continue;  // acted on when it was made
    if (c.kind == "desired") {
      if (ctx_.sessions.count(c.subject)) notify.insert(c.subject);
    } else if (c.kind == "trust") {
      trust = true;
    } else if (c.kind == "revoked") {
      ctx_.DisconnectDevice(c.subject, "device " + c.subject + " was revoked or decommissioned");
    } else if (c.kind == "rollout") {
      plan = true;
    }
  }
  if (trust)
    if (auto s = ctx_.AdoptStoredTrust(); !s)
      log::Error("cannot serve the trust policy another controller stored", {{"error", s.error().message}});
  if (!notify.empty()) ctx_.NotifyDevices(std::vector<std::string>(notify.begin(), notify.end()));
  if (plan && planner() && ctx_.rollouts) ctx_.rollouts->Poke("", /*membership=*/true);
}

void Cluster::ArmBeat() {
  if (stopped_) return;
  beat_timer_.expires_after(options_.heartbeat_every);
  beat_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    Beat();
    ArmBeat();
  });
}

void Cluster::ArmPoll() {
  if (stopped_) return;
  poll_timer_.expires_after(options_.poll_every);
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    Poll();
    ArmPoll();
  });
}

void Cluster::Listen() {
  auto listener = sql::ListenPostgres(options_.listen_url, "edge_fleet_changes");
  if (!listener) {
    log::Warn("cannot LISTEN for changes (the feed is still read every few seconds)", {{"error", listener.error().message}});
    return;
  }
  const int fd = ::dup((*listener)->fd());
  if (fd < 0) {
    log::Warn("cannot watch the LISTEN connection", {{"error", std::string("dup failed")}});
    return;
  }
  listener_ = std::move(*listener);
  listen_fd_ = std::make_unique<boost::asio::posix::stream_descriptor>(ctx_.io, fd);
  WaitForNotify();
}

void Cluster::WaitForNotify() {
  listen_fd_->async_wait(boost::asio::posix::stream_descriptor::wait_read,
                         boost::asio::bind_executor(ctx_.strand, [this](const boost::system::error_code& ec) {
                           if (ec || stopped_ || !listener_) return;
                           auto any = listener_->Drain();
                           if (!any) {
                             log::Warn("LISTEN connection lost (opened again at the next heartbeat)",
                                       {{"error", any.error().message}});
                             listen_fd_->close();
                             listen_fd_.reset();
                             listener_.reset();
                             return;
                           }
                           if (*any) Poll();
                           WaitForNotify();
                         }));
}

}  // namespace edge::controller
