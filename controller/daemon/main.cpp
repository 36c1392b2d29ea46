// edge-controller: inventory, releases and desired state for a fleet of edge agents.
//   edge-controller --config /etc/edgefleet/controller.json
//   edge-controller backup --to DIR [--replace] [--config ...]        (online, beside the running controller)
//   edge-controller restore --from DIR [--force] [--dry-run] [--config ...]   (the controller stopped)
// Exit codes: 0 clean shutdown, 1 runtime failure (also: a listener stopped answering the self-check,
// another controller runs on the data dir; backup/restore: failed or refused), 2 usage, 78 bad
// configuration (also: connection caps that do not fit RLIMIT_NOFILE).
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include <unistd.h>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "common/core/config.h"
#include "common/core/exit_codes.h"
#include "common/core/fs.h"
#include "common/core/log.h"
#include "common/systemd/journal.h"
#include "common/metrics/endpoint.h"
#include "common/systemd/notify.h"
#include "common/crypto/ed25519.h"
#include "common/tls/grpc_log.h"
#include "common/tls/grpc_tls.h"
#include "common/sql/postgres_connection.h"
#include "controller/api/cluster.h"
#include "controller/api/rollout_driver.h"
#include "controller/api/rpc_metrics.h"
#include "controller/api/services.h"
#include "controller/daemon/key_material.h"
#include "controller/backup/data_dir_lock.h"
#include "controller/daemon/backup_cmd.h"
#include "controller/net/fd_limit.h"
#include "controller/net/front.h"
#include "controller/net/grpc_tls_buffers.h"
#include "controller/net/self_check_runner.h"
#include "controller/store/timed_store.h"

namespace {

using namespace edge;
using namespace edge::controller;

// This process's id among the controllers sharing a PostgreSQL store: host and a random tag
// (a restarted controller is a new member; its old row is forgotten).
std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == 0) return "controller";
  return name;
}

std::string NewControllerId() {
  std::random_device rd;
  char tag[9];
  std::snprintf(tag, sizeof(tag), "%08x", static_cast<unsigned>(rd()));
  return HostName() + "-" + tag;
}

// The public ports belong to the connection front (controller/net/front.h), which applies the
// connection limits. It hands the agent listener's connections to gRPC (an external connection
// acceptor: one descriptor each) and splices the others to a gRPC port on 127.0.0.1.
constexpr const char* kInternalAddress = "127.0.0.1:0";

struct Listener {
  std::string name;
  net::ListenerKind kind;
  std::unique_ptr<grpc::Service> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor;  // handed-off listeners
  int port = 0;  // internal (spliced listeners)
  net::ListenEndpoint public_endpoint;
};

// The agent listener's connections are handed to gRPC; its TLS is gRPC's.
bool IsHandedOff(net::ListenerKind kind) { return kind == net::ListenerKind::kAgent; }

// What the front calls with an agent connection: gRPC adopts the socket and starts its TLS
// handshake from the bytes the front already read (the ClientHello).
net::Handoff HandTo(grpc::experimental::ExternalConnectionAcceptor& acceptor) {
  return [&acceptor](int listener_fd, int fd, std::string first_bytes) {
    grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters connection;
    connection.listener_fd = listener_fd;
    connection.fd = fd;
    grpc::Slice slice(first_bytes);
    connection.read_buffer = grpc::ByteBuffer(&slice, 1);
    acceptor.HandleNewConnection(&connection);
  };
}

// The caps are sized against the descriptors the process may really open (docs/operations.md).
Result<net::ConnectionLimits> SizeConnectionLimits(const net::ConnectionLimits& configured) {
  auto fd = net::RaiseFdLimit();
  if (!fd) return Fail(fd.error());
  log::Info("file descriptor limit (RLIMIT_NOFILE)",
            {{"soft_at_start", fd->soft_before}, {"soft", fd->soft}, {"hard", fd->hard}});
  auto limits = net::FitToFdLimit(configured, fd->soft);
  if (!limits) return Fail(limits.error());
  log::Info("connection limits",
            {{"max_connections", limits->max_connections},
             {"agent_max_connections", limits->ListenerMax(net::ListenerKind::kAgent)},
             {"enroll_max_connections", limits->ListenerMax(net::ListenerKind::kEnroll)},
             {"operator_max_connections", limits->ListenerMax(net::ListenerKind::kOperator)},
             {"max_connections_per_source", limits->max_connections_per_source},
             {"accepts_per_second_per_source", limits->accepts_per_second_per_source},
             {"fds_needed", net::FdsNeeded(*limits)}});
  for (const auto& warning : net::LimitWarnings(*limits)) log::Warn("connection limits", {{"warning", warning}});
  return limits;
}

// A listener that has stopped accepting must not look healthy: exit, and let systemd restart
// us (Restart=on-failure). _Exit, not a drain: a drain would wait on what is already broken;
// the store is crash-safe (WAL, synchronous=FULL).
[[noreturn]] void ExitOnDeadListener(const net::SelfCheck::Failure& failure) {
  log::Error("listener self-check failed: the listener no longer answers; exiting so that it is restarted",
             {{"listener", failure.target}, {"consecutive_failures", failure.consecutive}});
  std::fflush(nullptr);
  std::_Exit(1);
}

// Starts `l`'s gRPC server: on an internal port (l.port), or, for a handed-off listener, with
// an acceptor for the sockets the front passes on (l.acceptor) and no port at all.
Status StartServer(Listener& l, const std::shared_ptr<grpc::ServerCredentials>& credentials,
                   const net::ConnectionLimits& limits, ControllerMetrics& metrics,
                   const metrics::MonotonicClock& steady) {
  grpc::ServerBuilder builder;
  auto idle = tls::kDefaultMaxConnectionIdle;
  if (IsHandedOff(l.kind)) {
    l.acceptor = builder.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD, credentials);
    // The front's idle limit does not see these connections: gRPC's closes one that has no
    // call open for as long (an agent's Connect stream is always open; keepalive pings find a
    // dead peer).
    idle = std::chrono::seconds(limits.idle_timeout_seconds);
  } else {
    builder.AddListeningPort(kInternalAddress, credentials, &l.port);
  }
  builder.RegisterService(l.service.get());
  tls::ApplyServerLimits(builder, idle);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(MakeRpcMetricsInterceptor(metrics, steady));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));
  l.server = builder.BuildAndStart();
  if (!l.server || (!IsHandedOff(l.kind) && l.port == 0))
    return Fail(ErrorCode::kUnavailable, std::string("cannot start the gRPC server (internal address ") +
                                             kInternalAddress + ")");
  return Ok();
}

// The trust policy served is the highest version of the config's file and the policies an
// admin pushed (stored in the database), whatever their expiry: serving a lower version after
// a newer one expired would trust again a release key the newer one removed. An expired served
// policy is said loudly (installs and enrollments wait for a newer one). A file that does not
// verify, or is expired with nothing newer stored, is a bad configuration.
Status LoadTrust(ControllerContext& ctx) {
  const auto& c = ctx.config;
  auto bad = [](const Error& e) { return Fail(Error{ErrorCode::kBadConfig, e.message}); };
  auto envelope_text = fs::ReadFile(c.trust_policy, bundle::kMaxEnvelopeBytes);
  if (!envelope_text) return bad(envelope_text.error().Wrap("trust_policy"));
  auto root_pem = fs::ReadFile(c.release_root_public_key, 64 * 1024);
  if (!root_pem) return bad(root_pem.error().Wrap("release_root_public_key"));
  auto root = crypto::Ed25519PublicKeyFromPem(*root_pem);
  if (!root) return bad(root.error().Wrap(c.release_root_public_key));
  ctx.release_root = *root;
  const auto now = ctx.clock.NowUnix();
  auto trust = VerifyServedPolicy(ctx, *envelope_text, now, /*allow_expired=*/true);
  if (!trust) return bad(trust.error().Wrap("trust policy " + c.trust_policy));
  auto stored = ctx.store->LatestTrustPolicy();
  if (!stored) return Fail(stored.error());
  std::shared_ptr<const TrustState> pushed;
  if (*stored) {
    auto verified = VerifyServedPolicy(ctx, (*stored)->envelope, now, /*allow_expired=*/true);
    if (!verified) return Fail(verified.error().Wrap("stored trust policy v" + std::to_string((*stored)->version)));
    pushed = *verified;
  }
  trust = ChooseServedPolicy(*trust, pushed, now);
  if (!trust) return bad(trust.error().Wrap(c.trust_policy));
  if (Expired(**trust, now))
    log::Error("the served trust policy has expired: agents install nothing and gateways cannot enroll until an admin "
               "pushes a newer one (edgectl trust rotate, edgectl trust push)",
               {{"version", (*trust)->policy.version}});
  ctx.SetTrust(*trust);
  auto ca_pem = tls::ReadPem(c.fleet_ca_cert);
  if (!ca_pem) return Fail(ca_pem.error());
  auto ca_key_pem = fs::ReadFile(c.fleet_ca_key, 64 * 1024);
  if (!ca_key_pem) return bad(ca_key_pem.error().Wrap("fleet_ca_key"));
  auto ca_key = crypto::PrivateKey::FromPem(*ca_key_pem);
  if (!ca_key) return bad(ca_key.error().Wrap(c.fleet_ca_key));
  ctx.fleet_ca_pem = *ca_pem;
  ctx.fleet_ca_key = std::move(*ca_key);
  return Ok();
}

// Rollout and device-state gauges, counted from the store every 5 s on the strand.
class StateGauges {
 public:
  explicit StateGauges(ControllerContext& ctx) : ctx_(ctx), timer_(ctx.strand) {}
  void Refresh() {
    if (stopped_) return;
    ctx_.RefreshStateGauges();
    timer_.expires_after(std::chrono::seconds(5));
    timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Refresh();
    });
  }
  void Stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  ControllerContext& ctx_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false;
};

// The store the config names: SQLite in the data dir (the default), or PostgreSQL.
Result<std::unique_ptr<Store>> OpenConfiguredStore(const ControllerConfig& config, const StoreOptions& options) {
  if (config.store.backend != "postgresql") return OpenSqliteStore((config.data_dir / "controller.db").string(), options);
  // The URL may hold a password: only what it names is logged.
  log::Info("store on PostgreSQL", {{"database", sql::DescribePostgresUrl(config.store.url).value_or("?")}});
  return OpenPostgresStore(config.store.url, options);
}

int Run(const std::string& config_path) {
  auto config = LoadControllerConfig(config_path);
  if (!config) {
    log::Error("bad configuration", {{"error", config.error().message}});
    return kExitBadConfig;
  }
  const auto level = log::ParseLevel(config->log_level).value_or(log::Level::kInfo);
  log::Init("controller", level);
  tls::RouteLibraryLogs(level);
  tls::SkipLockCycleChecks();
  SystemClock clock;
  if (auto s = CheckKeyMaterial(*config, clock.NowUnix()); !s) {
    log::Error("bad configuration", {{"error", s.error().message}});
    return kExitBadConfig;
  }
  const auto data_dir = config->data_dir;
  for (const auto& dir : {data_dir, config->blob_dir}) {
    if (auto s = fs::CreateDirectories(dir, 0750); !s) {
      log::Error(dir == data_dir ? "cannot create data directory" : "cannot create blob directory",
                 {{"error", s.error().message}});
      return 1;
    }
  }
  // Held for the life of the process: no second controller on this database, no restore under
  // a running one.
  auto data_dir_lock = backup::DataDirLock::Acquire(data_dir, /*create=*/true);
  if (!data_dir_lock) {
    log::Error("cannot lock the data directory", {{"error", data_dir_lock.error().message}});
    // Another controller holds it: two controllers on one database is a configuration error.
    return data_dir_lock.error().code == ErrorCode::kFailedPrecondition ? kExitBadConfig : kExitError;
  }
  // Before any gRPC server exists: it applies to the connections gRPC sets up from then on.
  net::SetGrpcTlsBuffersOnDemand(config->grpc_tls_buffers_on_demand);
  if (config->grpc_tls_buffers_on_demand && !net::GrpcTlsBuffersInterposed())
    log::Warn("gRPC TLS buffers on demand: this build does not interpose BIO_new_bio_pair and SSL_new; "
              "OpenSSL's are used (about 25 KB more per agent connection)");
  log::Info("gRPC TLS buffers", {{"on_demand", config->grpc_tls_buffers_on_demand}});
  auto limits = SizeConnectionLimits(config->connection_limits);
  if (!limits) {
    log::Error("bad configuration", {{"error", limits.error().message}});
    return ExitCodeFor(limits.error());
  }
  // /metrics first: the store's timings go to it. Off unless metrics_listen is set.
  auto started_metrics = metrics::StartConfiguredEndpoint(config->metrics_listen);
  if (!started_metrics) {
    log::Error("cannot serve metrics", {{"error", started_metrics.error().message}});
    return ExitCodeFor(started_metrics.error());
  }
  std::unique_ptr<metrics::Endpoint> metrics_endpoint = std::move(*started_metrics);
  metrics::Registry& registry = metrics_endpoint ? metrics_endpoint->registry() : metrics::Discard();
  const metrics::SteadyClock steady;
  StoreOptions store_options;
  store_options.health_history_limit = static_cast<uint32_t>(config->health_history_samples);
  // On PostgreSQL, other controllers may share the database: this one gets an id of its own.
  const bool clustered = config->store.backend == "postgresql";
  if (clustered) store_options.cluster_id = NewControllerId();
  auto store = OpenConfiguredStore(*config, store_options);
  if (!store) {
    log::Error("cannot open store", {{"error", store.error().message}});
    // A server that is down may come back (exit 1: systemd restarts); a schema the URL does
    // not name will not.
    return store.error().code == ErrorCode::kBadConfig ? kExitBadConfig : kExitError;
  }
  boost::asio::io_context io;
  ControllerContext ctx(*config, io, std::make_unique<TimedStore>(std::move(*store), registry, steady), clock, registry);
  ctx.blob_dir = config->blob_dir;
  if (auto s = LoadTrust(ctx); !s) {
    log::Error("bad configuration", {{"error", s.error().message}});
    return ExitCodeFor(s.error());
  }
  if (auto added = ctx.store->EnsureInitialAdmin(config->initial_admin, clock.NowUnix()); !added) {
    log::Error("cannot record the initial admin", {{"error", added.error().message}});
    return 1;
  } else if (*added) {
    log::Info("initial admin bound", {{"operator", config->initial_admin}});
  }

  RolloutDriver rollouts(ctx);
  ctx.rollouts = &rollouts;
  // With several controllers: set before any agent connects (its session row must go when its
  // stream ends), started once the listeners are bound (its row names their ports).
  std::unique_ptr<Cluster> cluster;
  if (clustered) {
    ClusterOptions options;
    options.self = {store_options.cluster_id, HostName(), "", "", clock.NowUnix(), 0, 0, false};
    options.listen_url = config->store.url;
    cluster = std::make_unique<Cluster>(ctx, std::move(options));
    ctx.cluster = cluster.get();
  } else {
    ctx.metrics.planner.Set(1);
  }

  std::vector<Listener> listeners;
  listeners.push_back({"agent", net::ListenerKind::kAgent, MakeAgentService(ctx), nullptr, nullptr, 0, {}});
  listeners.push_back({"enroll", net::ListenerKind::kEnroll, MakeEnrollmentService(ctx), nullptr, nullptr, 0, {}});
  net::WebHandler dashboard;
  listeners.push_back({"operator", net::ListenerKind::kOperator,
                       MakeOperatorService(ctx, config->dashboard ? &dashboard : nullptr), nullptr, nullptr, 0, {}});
  const std::string addresses[] = {config->agent_listen, config->enroll_listen, config->operator_listen};
  // The server certificate and key are re-read when they change (`edgectl pki
  // renew-controller`): new handshakes get the new certificate, connected agents stay.
  const std::string client_cas[] = {config->fleet_ca_cert, "", config->operator_ca_cert};
  net::ConnectionFront front(*limits);
  // Per-source decisions (enrollment failures) are about the client behind the front.
  ctx.source_of = [&peers = front.peers()](const std::string& grpc_peer) {
    auto client = peers.OriginalPeer(net::ListenerKind::kEnroll, grpc_peer);
    return client ? client->source_key : SourceAddressOf(grpc_peer);
  };
  nlohmann::json ports = nlohmann::json::object();
  for (size_t i = 0; i < listeners.size(); ++i) {
    auto& l = listeners[i];
    // The enrollment listener's TLS is the front's (no client identity to pass on to gRPC):
    // there it sees HTTP/2 in clear and guards it against rapid reset and floods.
    const bool terminated = l.kind == net::ListenerKind::kEnroll;
    auto credentials = terminated ? Result<std::shared_ptr<grpc::ServerCredentials>>(grpc::InsecureServerCredentials())
                                  : tls::ServerCredentialsFromFiles({config->server_cert, config->server_key, client_cas[i]});
    if (!credentials) {
      log::Error("bad configuration", {{"listener", l.name}, {"error", credentials.error().message}});
      return kExitBadConfig;
    }
    if (auto started = StartServer(l, *credentials, *limits, ctx.metrics, steady); !started) {
      log::Error("cannot start listener", {{"listener", l.name}, {"error", started.error().message}});
      return 1;
    }
    std::optional<net::TlsTermination> termination;
    if (terminated) termination = net::TlsTermination{config->server_cert, config->server_key, {}};
    // Browsers on the operator port get the dashboard; gRPC clients are spliced as before.
    std::optional<net::WebTermination> web;
    if (l.kind == net::ListenerKind::kOperator && dashboard)
      web = net::WebTermination{config->server_cert, config->server_key, config->operator_ca_cert, dashboard};
    auto endpoint = IsHandedOff(l.kind)
                        ? front.AddHandoffListener(l.kind, addresses[i], HandTo(*l.acceptor))
                        : front.AddListener(l.kind, addresses[i], static_cast<uint16_t>(l.port), termination, web);
    if (!endpoint) {
      log::Error("cannot start listener", {{"listener", l.name}, {"error", endpoint.error().message}});
      return ExitCodeFor(endpoint.error());
    }
    l.public_endpoint = *endpoint;
    ports[l.name] = endpoint->port;
    nlohmann::json fields = {{"listener", l.name}, {"address", addresses[i]}, {"port", endpoint->port}};
    if (IsHandedOff(l.kind))
      fields["handoff"] = true;
    else
      fields["internal_port"] = l.port;
    log::Info("listening", fields);
  }
  front.Start();
  if (cluster) {
    auto bound = [](const Listener& l) { return l.public_endpoint.address + ":" + std::to_string(l.public_endpoint.port); };
    // Before the loop runs, this thread is the strand's only user.
    if (auto s = cluster->Start(bound(listeners[0]), bound(listeners[2])); !s) {
      log::Error("cannot join the controllers on the database", {{"error", s.error().message}});
      return 1;
    }
  }
  if (metrics_endpoint) ports["metrics"] = metrics_endpoint->port();
  if (!config->ports_file.empty()) {
    if (auto s = fs::WriteFileAtomic(config->ports_file, ports.dump() + "\n"); !s) {
      log::Error("cannot write ports file", {{"error", s.error().message}});
      return 1;
    }
  }

  std::vector<net::ProbeTarget> probe_targets;
  for (const auto& l : listeners) {
    // Through the front to gRPC's TLS: for the agent listener, the hand-off too.
    probe_targets.push_back({l.name + " (public)", l.public_endpoint, true});
    if (IsHandedOff(l.kind)) continue;  // no internal port
    probe_targets.push_back({l.name + " (internal)", {"127.0.0.1", static_cast<uint16_t>(l.port)}, false,
                             l.kind == net::ListenerKind::kEnroll ? net::ProbeProtocol::kPlainHttp2 : net::ProbeProtocol::kTls});
  }
  // On a loop and thread of its own: a main loop kept busy by a large fleet (report batches,
  // rollout ticks) must not delay the probes' handlers into timeouts and a false verdict.
  boost::asio::io_context check_io;
  auto check_work = boost::asio::make_work_guard(check_io);
  net::SelfCheckRunner self_check(check_io, *limits, std::move(probe_targets), &front, ExitOnDeadListener);
  boost::asio::post(check_io, [&self_check] { self_check.Start(); });
  std::thread check_thread([&check_io] { check_io.run(); });
  boost::asio::post(ctx.strand, [&rollouts] { rollouts.Start(); });
  StateGauges state_gauges(ctx);
  if (metrics_endpoint) boost::asio::post(ctx.strand, [&state_gauges] { state_gauges.Refresh(); });

  // Shutdown runs beside the loop, not on it: in-flight calls finish their work on the strand,
  // so the loop must keep running until every server has drained (2 s, then streams are
  // cancelled). The front stops taking connections first, and handing them off (StopAccepting
  // returns once no hand-off is under way: gRPC would neither take nor close a socket handed to
  // a server shutting down), but splices until gRPC has drained.
  auto work = boost::asio::make_work_guard(io);
  std::thread shutdown;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int signo) {
    log::Info("shutting down", {{"signal", signo}});
    systemd::NotifyStopping();
    boost::asio::post(check_io, [&self_check, &check_work] {
      self_check.Stop();
      check_work.reset();
    });
    boost::asio::post(ctx.strand, [&rollouts, &state_gauges, &cluster] {
      rollouts.Stop();
      state_gauges.Stop();
      if (cluster) cluster->Stop();
    });
    front.StopAccepting();
    shutdown = std::thread([&] {
      for (auto& l : listeners) l.server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
      front.Stop();
      work.reset();
      boost::asio::post(io, [&] { io.stop(); });
    });
  });
  systemd::Watchdog watchdog(io);
  watchdog.Start();
  systemd::NotifyReady();
  log::Info("controller ready", {{"fleet", config->fleet}, {"trust_policy_version", ctx.Trust()->policy.version}});
  io.run();
  if (shutdown.joinable()) shutdown.join();
  check_io.stop();
  check_thread.join();
  for (auto& l : listeners) l.server->Wait();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  edge::log::Init("controller");
  edge::systemd::LogToJournalIfConnected();
  CLI::App app{"edge-controller: fleet inventory, releases and desired state"};
  std::string config_path = "/etc/edgefleet/controller.json";
  app.add_option("-c,--config", config_path, "JSON config file")->capture_default_str();
  app.fallthrough();
  BackupCommand backup;
  auto* backup_cmd = app.add_subcommand(
      "backup", "copy the controller's database and blob store into a new directory, consistently, while it runs "
                "(PKI and configuration are not included: keep them separately)");
  backup_cmd->add_option("--to", backup.to, "backup directory to create (must not exist, or be empty)")->required();
  backup_cmd->add_flag("--replace", backup.replace, "replace the backup in a non-empty --to, once the new one is complete");
  RestoreCommand restore;
  auto* restore_cmd = app.add_subcommand(
      "restore", "check a backup and put it in place as the data_dir (stop the controller first)");
  restore_cmd->add_option("--from", restore.from, "backup directory (edge-controller backup --to)")->required();
  restore_cmd->add_flag("--force", restore.force,
                        "replace a non-empty data_dir (it is moved aside to DATA_DIR.pre-restore-TIME, not deleted)");
  restore_cmd->add_flag("--dry-run", restore.dry_run, "only check the backup; change nothing");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (backup_cmd->parsed() || restore_cmd->parsed()) {
    auto config = LoadControllerConfig(config_path);
    if (!config) {
      std::fprintf(stderr, "edge-controller: bad configuration: %s\n", config.error().message.c_str());
      return kExitBadConfig;
    }
    return backup_cmd->parsed() ? RunBackup(*config, backup) : RunRestore(*config, restore);
  }
  return Run(config_path);
}
