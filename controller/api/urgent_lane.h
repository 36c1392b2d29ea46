// Operators' calls ahead of the fleet's work on the strand. All controller logic runs on one
// strand (DESIGN §2a); at 10,000 agents its queue holds seconds of reports, blob checks and
// planner ticks, and an operator's `get rollouts` would wait behind all of it.
//
// Work posted here runs at the start of the next strand handler that calls RunWaiting() (each
// agent message, blob check, stream end and planner tick does so first), or at its own place in
// the strand's queue, whichever comes first: it waits for at most the handler running now. Only
// urgent work moves; the strand's other handlers keep their order. Urgent work must not depend on
// ordinary work posted before it (operators' calls do not: each is its own request).
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

namespace edge::controller {

class UrgentLane {
 public:
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  explicit UrgentLane(Strand& strand) : strand_(strand) {}
  UrgentLane(const UrgentLane&) = delete;
  UrgentLane& operator=(const UrgentLane&) = delete;

  // Any thread. `work` runs on the strand.
  template <typename Work>
  void Post(Work work) {
    auto shared = std::make_shared<Work>(std::move(work));  // std::function needs a copyable target
    {
      std::lock_guard lock(mu_);
      waiting_.emplace_back([shared] { (*shared)(); });
    }
    boost::asio::post(strand_, [this] { RunWaiting(); });
  }

  // Strand only: runs the urgent work waiting now, oldest first. Work it posts meanwhile waits
  // for the next call; a call from inside urgent work does nothing.
  void RunWaiting() {
    if (running_) return;
    std::deque<std::function<void()>> now;
    {
      std::lock_guard lock(mu_);
      now.swap(waiting_);
    }
    running_ = true;
    struct Reset {
      bool& flag;
      ~Reset() { flag = false; }
    } reset{running_};
    for (auto& work : now) work();
  }

  // Any thread: ordinary strand work, preceded by the urgent work waiting when it starts.
  template <typename Work>
  void PostOrdinary(Work work) {
    boost::asio::post(strand_, [this, work = std::move(work)]() mutable {
      RunWaiting();
      work();
    });
  }

 private:
  Strand& strand_;
  std::mutex mu_;
  std::deque<std::function<void()>> waiting_;
  bool running_ = false;  // strand only
};

}  // namespace edge::controller
