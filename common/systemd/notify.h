// systemd integration (Type=notify): readiness, stopping, and a watchdog pinged from the
// daemon's own event loop, so that a wedged loop, not only a dead process, gets restarted.
// Everything is a no-op when not started by systemd.
#pragma once

#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

namespace edge::systemd {

void NotifyReady();
void NotifyStopping();

// Pings WATCHDOG=1 every half WatchdogSec from a timer on `io`, if systemd asked for it.
class Watchdog {
 public:
  explicit Watchdog(boost::asio::io_context& io);
  void Start();

 private:
  void Schedule();
  boost::asio::steady_timer timer_;
  std::chrono::microseconds interval_{0};
};

}  // namespace edge::systemd
