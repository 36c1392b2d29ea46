// edge-agent: enrolls, keeps a stream to the controller, installs signed model bundles.
//   edge-agent --config /etc/edgefleet/agent.json
// Exit codes: 0 clean shutdown, 1 runtime failure, 2 usage, 78 bad configuration.
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>

#include "agent/daemon/agent_app.h"
#include "common/core/config.h"
#include "common/core/log.h"
#include "common/systemd/notify.h"

int main(int argc, char** argv) {
  using namespace edge;
  log::Init("agent");
  CLI::App app{"edge-agent: installs signed model bundles from an edgefleet controller"};
  std::string config_path = "/etc/edgefleet/agent.json";
  app.add_option("-c,--config", config_path, "JSON config file")->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto config = agent::LoadAgentConfig(config_path);
  if (!config) {
    log::Error("bad configuration", {{"error", config.error().message}});
    return config::kExitBadConfig;
  }
  if (auto level = log::ParseLevel(config->log_level)) log::Init("agent", *level);
  SystemClock clock;
  boost::asio::io_context io;
  agent::AgentApp agent(*config, io, clock);
  if (auto s = agent.Start(); !s) {
    log::Error("agent cannot start", {{"error", s.error().message}});
    agent.Stop();
    return s.error().code == ErrorCode::kBadConfig ? config::kExitBadConfig : 1;
  }
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int signo) {
    log::Info("shutting down", {{"signal", signo}});
    systemd::NotifyStopping();
    io.stop();
  });
  systemd::Watchdog watchdog(io);
  watchdog.Start();
  systemd::NotifyReady();
  io.run();
  agent.Stop();
  return 0;
}
