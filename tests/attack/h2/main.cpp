// edge-h2attack: HTTP/2 abuse against a gRPC listener on loopback, for the security tests.
//   edge-h2attack --target 127.0.0.1:7444 --mode rapid-reset [--no-data] --seconds 3 --connections 2
// Modes: rapid-reset, many-streams, big-headers [--continuation-flood], ping-flood,
// settings-flood (both [--no-read]), slow-handshake. Prints one JSON line with what it did and
// what the server answered. Exit codes: 0 ran (whatever the server did), 1 could not run,
// 2 usage (a non-loopback target included).
#include <csignal>
#include <iostream>
#include <map>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tests/attack/h2/attack_modes.h"

namespace {

using namespace edge::h2attack;
using Json = nlohmann::ordered_json;

// Bounds that keep the tool a test instrument, not a load generator.
constexpr double kMaxSeconds = 60;
constexpr int kMaxH2Connections = 64;
constexpr int kMaxSlowConnections = 1000;

const std::map<std::string, Mode> kModes = {
    {"rapid-reset", Mode::kRapidReset},     {"many-streams", Mode::kManyStreams},
    {"big-headers", Mode::kBigHeaders},     {"ping-flood", Mode::kPingFlood},
    {"settings-flood", Mode::kSettingsFlood}, {"slow-handshake", Mode::kSlowHandshake}};

Json H2Json(const Options& o, const Stats& s, double elapsed) {
  Json j;
  j["streams_opened"] = s.streams_opened;
  j["streams_per_second"] = elapsed > 0 ? static_cast<double>(s.streams_opened) / elapsed : 0.0;
  j["resets_sent"] = s.resets_sent;
  j["data_frames_sent"] = s.data_frames_sent;
  j["continuation_frames_sent"] = s.continuation_frames_sent;
  j["header_bytes_sent"] = s.header_bytes_sent;
  j["pings_sent"] = s.pings_sent;
  j["settings_sent"] = s.settings_sent;
  j["bytes_sent"] = s.bytes_sent;
  j["bytes_read"] = s.bytes_read;
  j["connects"] = s.connects;
  j["tls_ok"] = s.tls_ok;
  j["tls_failed"] = s.tls_failed;
  j["rejected_before_settings"] = s.rejected_before_settings;
  j["server_closed"] = s.server_closed;
  j["server_max_concurrent_streams"] = s.max_concurrent_streams;
  j["server_settings"] = s.server_settings;
  j["server_settings_acks"] = s.server_settings_acks;
  j["ping_acks"] = s.ping_acks;
  j["rst_received"] = s.rst_received;
  j["refused_streams"] = s.refused_streams;
  j["headers_received"] = s.headers_received;
  j["data_received"] = s.data_received;
  if (o.mode == Mode::kManyStreams) j["held_streams"] = s.held_streams;
  j["flow_control_waits"] = s.flow_control_waits;
  j["goaway"] = s.goaways > 0;
  j["goaways"] = s.goaways;
  j["goaway_error"] = s.goaway_error;
  j["goaway_debug"] = s.goaway_debug;
  j["first_error"] = s.first_error;
  return j;
}

Json SlowJson(const SlowHandshakeStats& s) {
  Json j;
  j["connects"] = s.connects;
  j["connect_failed"] = s.connect_failed;
  j["bytes_sent"] = s.bytes_sent;
  j["closed_by_server"] = s.closed_by_server;
  j["open_at_end"] = s.open_at_end;
  j["first_close_ms"] = s.first_close_ms;
  j["first_error"] = s.first_error;
  return j;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"edge-h2attack: bounded HTTP/2 abuse against a loopback gRPC listener"};
  std::string target_text;
  std::string mode_text;
  double seconds = 3;
  Options o;
  app.add_option("--target", target_text, "host:port on loopback")->required();
  app.add_option("--mode", mode_text, "rapid-reset | many-streams | big-headers | ping-flood | settings-flood | slow-handshake")
      ->required()
      ->check(CLI::IsMember(kModes));
  app.add_option("--seconds", seconds, "how long to attack")->capture_default_str()->check(CLI::Range(0.1, kMaxSeconds));
  app.add_option("--connections", o.connections, "parallel connections (slow-handshake: sockets held)")
      ->capture_default_str()
      ->check(CLI::Range(1, kMaxSlowConnections));
  app.add_option("--path", o.path, "gRPC method path for the streams")->capture_default_str();
  app.add_flag("--no-data", o.no_data, "rapid-reset: no DATA frame, only HEADERS + RST_STREAM");
  app.add_flag("--continuation-flood", o.continuation_flood, "big-headers: one header block that never ends");
  app.add_option("--header-bytes", o.header_bytes, "big-headers: size of the oversized field")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1}, size_t{1} << 20));
  app.add_option("--streams", o.streams, "many-streams: streams per connection (default twice the advertised limit)")
      ->check(CLI::Range(1, 10000));
  app.add_flag("--no-read", o.no_read, "ping-flood, settings-flood: never read the server's replies");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  o.mode = kModes.at(mode_text);
  if (o.mode != Mode::kSlowHandshake && o.connections > kMaxH2Connections) {
    std::cerr << "edge-h2attack: --connections " << o.connections << " is above " << kMaxH2Connections
              << " for HTTP/2 modes (each is a thread)\n";
    return 2;
  }
  auto target = ResolveLoopbackTarget(target_text);
  if (!target) {
    std::cerr << "edge-h2attack: " << target.error().message << "\n";
    return 2;
  }
  o.target = *target;
  o.duration = std::chrono::milliseconds(static_cast<int64_t>(seconds * 1000));
  std::signal(SIGPIPE, SIG_IGN);  // a server that hangs up is a result, not a crash

  Json out;
  out["mode"] = mode_text;
  if (o.no_data) out["variant"] = "no-data";
  if (o.continuation_flood) out["variant"] = "continuation-flood";
  if (o.no_read) out["variant"] = "no-read";
  out["target"] = o.target.authority;
  out["connections"] = o.connections;
  const auto start = std::chrono::steady_clock::now();
  Json result;
  if (o.mode == Mode::kSlowHandshake) {
    auto st = RunSlowHandshake(o);
    if (!st) {
      std::cerr << "edge-h2attack: " << st.error().message << "\n";
      return 1;
    }
    result = SlowJson(*st);
  } else {
    auto st = RunH2Attack(o);
    if (!st) {
      std::cerr << "edge-h2attack: " << st.error().message << "\n";
      return 1;
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    result = H2Json(o, *st, elapsed);
  }
  out["elapsed_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  out.update(result);
  std::cout << out.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  return 0;
}
