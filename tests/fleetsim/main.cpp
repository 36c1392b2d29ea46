// edge-fleetsim: N simulated agents in one process against a real controller (docs/fleetsim.md).
// Exit codes: 0 the run's goal was met (or its --duration ran out), 1 it was not (timeout, see
// the summary), 2 bad usage, 78 a bad file or config, 69 the controller was unreachable.
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "common/core/exit_codes.h"
#include "common/tls/grpc_log.h"
#include "tests/fleetsim/fleetsim.h"

namespace {

std::vector<std::string> SplitColons(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == ':') out.emplace_back();
    else out.back() += c;
  }
  return out;
}

// SHARE (0..1) as a number, or the error naming the flag.
double Share(const std::string& flag, const std::string& text) {
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(text, &used);
  } catch (...) {
  }
  if (used != text.size() || !(v >= 0 && v <= 1)) throw CLI::ValidationError(flag, "share must be a number in [0, 1], got '" + text + "'");
  return v;
}

double Seconds(const std::string& flag, const std::string& text) {
  size_t used = 0;
  double v = -1;
  try {
    v = std::stod(text, &used);
  } catch (...) {
  }
  if (used != text.size() || !(v >= 0)) throw CLI::ValidationError(flag, "expected a non-negative number, got '" + text + "'");
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  edge::tls::QuietLibraryLogs();
  edge::tls::SkipLockCycleChecks();
  edge::fleetsim::Options o;
  std::vector<std::string> fail, slow, offline;
  std::string until_converged;
  CLI::App app{"edge-fleetsim: many simulated agents in one process against a real edge-controller"};
  app.add_option("--agent-endpoint", o.agent_endpoint, "controller's agent listener (host:port), or several controllers' (a,b,c: each device starts at one and moves on after each stream ends, as the agent does)")->required();
  app.add_option("--enroll-endpoint", o.enroll_endpoint, "controller's enrollment listener (host:port, or a list), for devices not enrolled yet");
  app.add_option("--ca", o.ca_file, "fleet CA certificate (PEM)")->required();
  app.add_option("--release-root", o.release_root_file, "release root public key (PEM): trust policies are verified with it")->required();
  app.add_option("--state", o.state_dir, "directory keeping the devices' keys and certificates across runs")->required();
  app.add_option("--devices", o.devices, "how many devices to simulate (0 with --operator-rate: an operator's calls alone, measured from a process that simulates nothing else)")->check(CLI::Range(0, 1000000));
  app.add_option("--prefix", o.prefix, "device name prefix (names are PREFIX-00001, ...)");
  app.add_option("--site", o.site, "site to enroll devices at that are not enrolled yet");
  app.add_option("--edgectl-config", o.edgectl_config, "edgectl config whose operator certificate creates enrollment tokens (default $EDGECTL_CONFIG or ~/.config/edgectl/config)")
      ->envname("EDGECTL_CONFIG");
  app.add_option("--context", o.edgectl_context, "context in the edgectl config");
  app.add_option("--operator-endpoint", o.operator_address, "operator address instead of the context's")->envname("EDGECTL_CONTROLLER");
  app.add_option("--report-interval", o.report_interval_s, "seconds between a device's periodic reports (default 5, as the agent)");
  app.add_option("--jitter", o.jitter, "± share of the report interval each wait varies by (default 0.2)");
  app.add_option("--connect-rate", o.connect_rate, "new Connect streams per second at the start (default 500)");
  app.add_option("--enroll-concurrency", o.enroll_concurrency, "enrollments in flight (default 8; the controller takes 16 per source address)")->check(CLI::Range(1, 1024));
  app.add_option("--download-concurrency", o.download_concurrency, "downloads in flight, 0 = no limit (default)")->check(CLI::Range(0, 1000000));
  app.add_option("--operator-rate", o.operator_rate, "operator calls per second while the fleet runs, latency in the summary (default 0; needs the edgectl config)")
      ->check(CLI::Range(0.0, 1000.0));
  app.add_flag("--until-connected", o.until_connected, "end once every device is connected");
  app.add_option("--until-converged", until_converged, "MODEL:VERSION: end once every device not scripted to fail it runs it, committed");
  app.add_option("--duration", o.duration_s, "end after this many seconds");
  app.add_option("--timeout", o.timeout_s, "give up after this many seconds (exit 1; default 600)");
  app.add_option("--progress-interval", o.progress_interval_s, "seconds between progress lines on stderr (default 5)");
  app.add_option("--summary", o.summary_file, "also write the JSON summary to this file");
  app.add_option("--fail", fail, "SHARE:VERSION: that share of devices fail to install VERSION (they roll back)");
  app.add_option("--slow", slow, "SHARE:VERSION:P99_US: that share of devices report this p99 latency on VERSION");
  app.add_option("--offline", offline, "SHARE:AFTER_S:FOR_S: that share of devices drop off AFTER_S into the run for FOR_S");
  app.add_option("--soak-scale", o.script.soak_scale, "multiplies each manifest's soak window (default 1)");
  app.add_option("--seed", o.script.seed, "picks which devices the script rules choose (default 1)");
  try {
    app.parse(argc, argv);
    for (const auto& f : fail) {
      auto p = SplitColons(f);
      if (p.size() != 2 || p[1].empty()) throw CLI::ValidationError("--fail", "expected SHARE:VERSION, got '" + f + "'");
      o.script.fail.push_back({Share("--fail", p[0]), p[1]});
    }
    for (const auto& s : slow) {
      auto p = SplitColons(s);
      if (p.size() != 3 || p[1].empty()) throw CLI::ValidationError("--slow", "expected SHARE:VERSION:P99_US, got '" + s + "'");
      o.script.slow.push_back({Share("--slow", p[0]), p[1], Seconds("--slow", p[2])});
    }
    for (const auto& s : offline) {
      auto p = SplitColons(s);
      if (p.size() != 3) throw CLI::ValidationError("--offline", "expected SHARE:AFTER_S:FOR_S, got '" + s + "'");
      o.script.offline.push_back({Share("--offline", p[0]), Seconds("--offline", p[1]), Seconds("--offline", p[2])});
    }
    if (!until_converged.empty()) {
      auto p = SplitColons(until_converged);
      if (p.size() != 2 || p[0].empty() || p[1].empty())
        throw CLI::ValidationError("--until-converged", "expected MODEL:VERSION, got '" + until_converged + "'");
      o.until_converged = std::make_pair(p[0], p[1]);
    }
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : edge::kExitUsage;
  }
  auto outcome = edge::fleetsim::Run(o);
  if (!outcome) {
    std::cerr << "edge-fleetsim: " << outcome.error().message << "\n";
    return edge::ExitCodeFor(outcome.error());
  }
  const auto text = outcome->summary.dump(2);
  std::cout << text << std::endl;
  if (!o.summary_file.empty()) {
    std::ofstream out(o.summary_file);
    out << text << "\n";
    if (!out) {
      std::cerr << "edge-fleetsim: cannot write " << o.summary_file << "\n";
      return 1;
    }
  }
  return outcome->goal_met ? 0 : 1;
}
