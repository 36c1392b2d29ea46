// edge-agent: enrolls, keeps a stream to the controller, installs signed model bundles, serves
// them locally.
//   edge-agent --config /etc/edgefleet/agent.json
//   edge-agent install FILE [--config ...] [--no-wait] [--timeout S]   (air-gapped install)
// Exit codes (common/core/exit_codes.h): 0 clean shutdown, 1 runtime failure, 2 usage, 69 the
// controller unreachable at enrollment, 75 install: timed out waiting, 77 refused (token,
// identity, trust policy), 78 bad configuration.
#include <boost/asio/signal_set.hpp>
#include <CLI/CLI.hpp>

#include <iostream>

#include "agent/core/crash_point.h"
#include "agent/daemon/agent_app.h"
#include "agent/daemon/offline_install.h"
#include "common/core/config.h"
#include "common/core/exit_codes.h"
#include "common/core/log.h"
#include "common/systemd/journal.h"
#include "common/metrics/endpoint.h"
#include "common/systemd/notify.h"
#include "common/tls/grpc_log.h"

int main(int argc, char** argv) {
  using namespace edge;
  log::Init("agent");
  systemd::LogToJournalIfConnected();
  CLI::App app{"edge-agent: installs signed model bundles from an edgefleet controller"};
  std::string config_path = "/etc/edgefleet/agent.json";
  app.add_option("-c,--config", config_path, "JSON config file")->capture_default_str();
  bool list_crash_points = false;
  app.add_flag("--list-crash-points", list_crash_points,
               "print the named crash points (fault tests; they fire only in test builds, via EDGE_CRASH_AT)");
  app.fallthrough();
  agent::InstallOptions install;
  bool no_wait = false;
  auto* install_cmd = app.add_subcommand(
      "install", "install a single-file bundle (edgectl bundle export) on this device, with the same verification "
                 "and health gate as a controller-delivered version; the running agent does the install");
  install_cmd->add_option("file", install.file, "bundle file")->required()->check(CLI::ExistingFile);
  install_cmd->add_flag("--no-wait", no_wait, "return once the agent has the bundle, without waiting for the outcome");
  install_cmd->add_option("--timeout", install.timeout_seconds, "seconds to wait for the outcome")
      ->capture_default_str()->check(CLI::PositiveNumber);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (list_crash_points) {
    if (!agent::kCrashPointsCompiled) std::cerr << "this build has no crash points (EDGE_CRASH_POINTS=OFF)\n";
    for (auto name : agent::kCrashPoints) std::cout << name << "\n";
    return agent::kCrashPointsCompiled ? 0 : 1;
  }
  auto config = agent::LoadAgentConfig(config_path);
  if (!config) {
    log::Error("bad configuration", {{"error", config.error().message}});
    return kExitBadConfig;
  }
  const auto level = log::ParseLevel(config->log_level).value_or(log::Level::kInfo);
  log::Init("agent", level);
  tls::RouteLibraryLogs(level);
  tls::SkipLockCycleChecks();
  SystemClock clock;
  if (install_cmd->parsed()) {
    install.wait = !no_wait;
    return agent::RunInstall(*config, install, clock);
  }
  // Off unless metrics_listen is set; the port bound is logged ("metrics listening").
  auto metrics_endpoint = metrics::StartConfiguredEndpoint(config->metrics_listen);
  if (!metrics_endpoint) {
    log::Error("cannot serve metrics", {{"error", metrics_endpoint.error().message}});
    return ExitCodeFor(metrics_endpoint.error());
  }
  boost::asio::io_context io;
  agent::AgentApp agent(*config, io, clock, *metrics_endpoint ? (*metrics_endpoint)->registry() : metrics::Discard());
  if (auto s = agent.Start(); !s) {
    log::Error("agent cannot start", {{"error", s.error().message}});
    agent.Stop();
    return ExitCodeFor(s.error());
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
