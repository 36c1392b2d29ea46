#include "common/systemd/notify.h"

#include <systemd/sd-daemon.h>

namespace edge::systemd {

void NotifyReady() { sd_notify(0, "READY=1"); }
void NotifyStopping() { sd_notify(0, "STOPPING=1"); }

Watchdog::Watchdog(boost::asio::io_context& io) : timer_(io) {}

void Watchdog::Start() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  interval_ = std::chrono::microseconds(usec / 2);
  Schedule();
}

void Watchdog::Schedule() {
  sd_notify(0, "WATCHDOG=1");
  timer_.expires_after(interval_);
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) Schedule();
  });
}

}  // namespace edge::systemd
