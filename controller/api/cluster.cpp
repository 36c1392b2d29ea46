#include "controller/api/cluster.h"

#include <unistd.h>

#include <algorithm>
#include <set>

#include <boost/asio/bind_executor.hpp>

#include "common/core/log.h"
#include "controller/api/context.h"
#include "controller/api/rollout_driver.h"

namespace edge::controller {

namespace {

// A controller stops planning this long before its lease expires by its own clock: the next
// renewal is due well before, and another controller's clock may run a little ahead.
constexpr int64_t kLeaseMarginSeconds = 3;
// Entries read per query; more are read at once after (the cursor does not skip them).
constexpr uint32_t kChangesPerRead = 2000;
constexpr auto kForgetEvery = std::chrono::seconds(60);

}  // namespace

Cluster::Cluster(ControllerContext& ctx, ClusterOptions options)
    : ctx_(ctx), options_(std::move(options)), last_beat_ok_(std::chrono::steady_clock::now()),
      beat_timer_(ctx.strand), poll_timer_(ctx.strand) {}

Cluster::~Cluster() {
  if (listen_fd_) listen_fd_->close();
}

Status Cluster::Start(const std::string& agent_endpoint, const std::string& operator_endpoint) {
  options_.self.agent_endpoint = agent_endpoint;
  options_.self.operator_endpoint = operator_endpoint;
  EDGE_ASSIGN_OR_RETURN(high_, ctx_.store->LastChange());
  last_beat_ok_ = std::chrono::steady_clock::now();
  EDGE_ASSIGN_OR_RETURN(lease_, ctx_.store->Heartbeat(options_.self, options_.times, ctx_.clock.NowUnix()));
  // A policy pushed between the daemon's load of the trust policy and the cursor's start.
  EDGE_TRY(ctx_.AdoptStoredTrust());
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
  const auto steady_now = std::chrono::steady_clock::now();
  auto lease = ctx_.store->Heartbeat(options_.self, options_.times, ctx_.clock.NowUnix());
  if (!lease) {
    // The lease lapses by the clock (planner() turns false) if this goes on.
    log::Warn("heartbeat failed", {{"controller", id()}, {"error", lease.error().message}});
    // Cut off from the database for as long as other controllers take to count this one as
    // dead: its agents move to a controller that can store their reports.
    if (!dropped_for_outage_ && steady_now - last_beat_ok_ >= std::chrono::seconds(options_.times.stale_seconds)) {
      dropped_for_outage_ = true;
      log::Error("the database has been unreachable for " + std::to_string(options_.times.stale_seconds) +
                     " s: ending agent streams so that agents move to another controller",
                 {{"controller", id()}, {"agents", ctx_.sessions.size()}});
      for (const auto& [device, session] : ctx_.sessions)
        session->Close(14 /* UNAVAILABLE */, "this controller cannot reach its database; connect to another");
    }
  } else {
    lease_ = *lease;
    last_beat_ok_ = steady_now;
    dropped_for_outage_ = false;
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
  // The planner's housekeeping, once a minute: it scans the sessions, so not at every beat.
  if (is && steady_now - last_forget_ >= kForgetEvery) {
    last_forget_ = steady_now;
    if (auto s = ctx_.store->ForgetDeadControllers(options_.times, ctx_.clock.NowUnix()); !s)
      log::Warn("cannot remove long-dead controllers' rows", {{"error", s.error().message}});
  }
  if (lease && ++beats_ % options_.reconcile_every_beats == 0) ReconcileSessions();
  if (!listener_ && !options_.listen_url.empty()) Listen();
}

void Cluster::ReconcileSessions() {
  std::vector<std::pair<std::string, uint64_t>> held;
  for (const auto& [device, session] : ctx_.sessions) held.emplace_back(device, session->stream());
  auto fixed = ctx_.store->ReconcileSessions(id(), ctx_.live_streams, held, ctx_.clock.NowUnix());
  if (!fixed) {
    log::Warn("cannot check this controller's session rows", {{"error", fixed.error().message}});
  } else if (*fixed > 0) {
    log::Info("session rows corrected to the streams held", {{"controller", id()}, {"rows", *fixed}});
  }
}

void Cluster::Poll() {
  if (stopped_) return;
  auto read = ctx_.store->ChangesSince(high_, kChangesPerRead);
  if (!read) {
    log::Warn("cannot read the change feed", {{"error", read.error().message}});
    return;
  }
  if (read->empty()) return;  // the prune keeps the newest entry: nothing was missed
  // Entries this controller never read were pruned (it was cut off for about forget_seconds)
  // when the next entry is past the cursor and so is the oldest one left; a seq skipped with
  // older entries still there was a rolled-back transaction's.
  bool lost = false;
  if (read->front().seq > high_ + 1) {
    auto oldest = ctx_.store->OldestChange();
    lost = oldest && *oldest > high_ + 1;
  }
  high_ = read->back().seq;
  if (lost) {
    Resync("entries of the change feed were pruned before this controller read them");
  } else {
    Act(*read);
  }
  // A full read leaves more behind: read on at once.
  if (read->size() >= kChangesPerRead) boost::asio::post(ctx_.strand, [this] { Poll(); });
}

void Cluster::Resync(const std::string& why) {
  log::Warn("resyncing the agents this controller holds", {{"controller", id()}, {"why", why}});
  if (auto s = ctx_.AdoptStoredTrust(); !s)
    log::Error("cannot serve the stored trust policy", {{"error", s.error().message}});
  // The sessions and the devices whose hello waits for its batch (not sessions yet): each is
  // checked against the revocations this resync may have missed.
  std::set<std::string> devices;
  std::vector<std::string> held;
  for (const auto& [device, session] : ctx_.sessions) devices.insert(device);
  for (const auto& [device, stream] : ctx_.pending_hellos) devices.insert(device);
  for (const auto& device : devices) {  // DisconnectDevice erases from the sessions
    auto d = ctx_.store->GetDevice(device);
    if (!d && d.error().code == ErrorCode::kNotFound) {
      ctx_.DisconnectDevice(device, "device " + device + " was decommissioned");
    } else if (d && d->revoked) {
      ctx_.DisconnectDevice(device, "device " + device + " is revoked");
    } else {
      held.push_back(device);
    }
  }
  ctx_.NotifyDevices(held);
  if (planner() && ctx_.rollouts) ctx_.rollouts->Poke("", /*membership=*/true);
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
