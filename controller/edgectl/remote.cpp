#include "controller/edgectl/remote.h"

#include <ctime>

#include <unistd.h>

#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <thread>

#include "common/core/clock.h"
#include "common/core/config.h"
#include "common/core/fs.h"
#include "common/tls/connect_timeouts.h"
#include "common/tls/grpc_tls.h"
#include "controller/edgectl/bundle_dir.h"
#include "controller/edgectl/health_view.h"
#include "controller/edgectl/operator_call.h"
#include "controller/edgectl/operator_tls.h"
#include "edge/v1/admin.grpc.pb.h"

namespace edge::edgectl {
namespace {

namespace pb = edge::v1;
using Clock = std::chrono::steady_clock;

std::unique_ptr<grpc::ClientContext> CallContext(std::chrono::seconds deadline = std::chrono::seconds(15)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + deadline);
  return ctx;
}

nlohmann::json DeviceJson(const pb::Device& d) {
  nlohmann::json models = nlohmann::json::array();
  for (const auto& m : d.models())
    models.push_back({{"model", m.model()}, {"desired_version", m.desired_version()}, {"version", m.reported_version()},
                      {"state", m.state()}, {"detail", m.detail()}, {"bytes_done", m.bytes_done()},
                      {"bytes_total", m.bytes_total()}, {"updated_at", m.updated_at()}});
  return {{"id", d.id()}, {"site", d.site()}, {"online", d.online()}, {"last_seen", d.last_seen()},
          {"enrolled_at", d.enrolled_at()}, {"agent_version", d.agent_version()},
          {"cert_not_after", d.cert_not_after()}, {"models", models},
          {"labels", std::map<std::string, std::string>(d.labels().begin(), d.labels().end())}};
}

}  // namespace

int64_t NowUnix() { return SystemClock().NowUnix(); }

std::string LabelsText(const pb::Device& d) {
  std::map<std::string, std::string> sorted(d.labels().begin(), d.labels().end());
  std::string out;
  for (const auto& [k, v] : sorted) out += (out.empty() ? "" : ",") + k + "=" + v;
  return out;
}

namespace {

std::string LabelsCell(const pb::Device& d) {
  const std::string text = LabelsText(d);
  return text.empty() ? "-" : text;
}

std::string ModelsCell(const pb::Device& d) {
  std::string out;
  for (const auto& m : d.models()) {
    if (!out.empty()) out += ", ";
    out += m.model() + ":" + (m.reported_version().empty() ? "-" : m.reported_version());
    if (!m.desired_version().empty() && m.desired_version() != m.reported_version()) out += "→" + m.desired_version();
  }
  return out.empty() ? "-" : out;
}

std::string StateCell(const pb::Device& d) {
  std::string out;
  for (const auto& m : d.models()) {
    if (!out.empty()) out += ", ";
    out += m.state().empty() ? "pending" : m.state();
    if (m.state() == "downloading" && m.bytes_total() > 0)
      out += " " + std::to_string(m.bytes_done() * 100 / m.bytes_total()) + "%";
  }
  return out.empty() ? "-" : out;
}

class GrpcOperatorClient final : public OperatorClient {
 public:
  GrpcOperatorClient(std::shared_ptr<grpc::Channel> channel, std::string target, std::string unreachable_hint)
      : stub_(pb::OperatorService::NewStub(channel)), target_(std::move(target)), unreachable_hint_(std::move(unreachable_hint)) {}

  Status Check(const grpc::Status& s, std::string_view call) {
    if (s.ok()) return Ok();
    return Fail(OperatorCallError(s, call, *stub_, target_, unreachable_hint_));
  }

  Status CreateSite(const std::string& name) override {
    pb::CreateSiteRequest req;
    req.set_name(name);
    pb::Site resp;
    EDGE_TRY(Check(stub_->CreateSite(CallContext().get(), req, &resp), "create site"));
    WriteLine(std::cerr, "site " + resp.name() + " created");
    return Ok();
  }

  Status CreateToken(const std::string& site, int64_t ttl, OutputFormat format) override {
    pb::CreateEnrollmentTokenRequest req;
    req.set_site(site);
    req.set_ttl_seconds(ttl);
    pb::EnrollmentToken resp;
    EDGE_TRY(Check(stub_->CreateEnrollmentToken(CallContext().get(), req, &resp), "create token"));
    if (format == OutputFormat::kJson) {
      PrintJson({{"token", resp.token()}, {"site", resp.site()}, {"expires_at", resp.expires_at()}});
    } else {
      WriteLine(std::cout, resp.token());
      std::cout << std::flush;
      WriteLine(std::cerr, "one-time token for site " + resp.site() + ", expires " + FormatTime(resp.expires_at()));
    }
    return Ok();
  }

  Status PushBundle(const std::filesystem::path& dir, OutputFormat format) override {
    EDGE_ASSIGN_OR_RETURN(auto signed_bundle, ReadSignedBundle(dir));
    const auto& [envelope, manifest] = signed_bundle;
    // Send only what the controller lacks: an unchanged blob is never sent twice.
    pb::MissingBlobsRequest ask;
    for (const auto& b : manifest.blobs) ask.add_digests(b.digest);
    pb::MissingBlobsResponse missing;
    EDGE_TRY(Check(stub_->MissingBlobs(CallContext().get(), ask, &missing), "push " + manifest.name + ":" + manifest.version));
    const std::set<std::string> to_send(missing.digests().begin(), missing.digests().end());
    uint64_t total = 0;
    for (const auto& b : manifest.blobs)
      if (to_send.count(b.digest)) total += b.size;
    if (to_send.size() < manifest.blobs.size())
      std::cerr << manifest.blobs.size() - to_send.size() << " blob(s) already on the controller, not sent again\n";
    auto ctx = CallContext(std::chrono::seconds(600));
    pb::ModelVersion resp;
    auto writer = stub_->PushBundle(ctx.get(), &resp);
    pb::PushBundleRequest msg;
    msg.set_envelope(envelope);
    bool ok = writer->Write(msg);
    const bool tty = isatty(STDERR_FILENO);
    uint64_t sent = 0;
    for (const auto& b : manifest.blobs) {
      if (!to_send.count(b.digest)) continue;
      std::ifstream in(dir / "blobs" / b.digest, std::ios::binary);
      if (!in) return Fail(ErrorCode::kIo, "bundle blob " + (dir / "blobs" / b.digest).string() + " is missing");
      std::string buf(1 << 20, '\0');
      while (ok && in) {
        in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
        const auto n = static_cast<size_t>(in.gcount());
        if (n == 0) break;
        msg.Clear();
        msg.mutable_blob()->set_digest(b.digest);
        msg.mutable_blob()->set_data(buf.data(), n);
        ok = writer->Write(msg);
        sent += n;
        if (tty) std::cerr << "\rpushing " << manifest.name << ":" << manifest.version << "  " << FormatBytes(sent)
                           << " / " << FormatBytes(total) << std::flush;
      }
    }
    if (tty) std::cerr << "\n";
    writer->WritesDone();
    EDGE_TRY(Check(writer->Finish(), "push " + manifest.name + ":" + manifest.version));
    if (format == OutputFormat::kJson) {
      PrintJson({{"model", resp.model()}, {"version", resp.version()}, {"security_version", resp.security_version()},
                 {"manifest_digest", resp.manifest_digest()}, {"signed_by", resp.signed_by()}, {"bytes", resp.total_bytes()}});
    } else {
      WriteLine(std::cerr, "pushed " + resp.model() + ":" + resp.version() + " (security_version " +
                               std::to_string(resp.security_version()) + ", " + FormatBytes(resp.total_bytes()) +
                               ", signed by " + resp.signed_by() + ")");
    }
    return Ok();
  }

  Status Get(const std::string& what, const GetFilters& filters, OutputFormat format) override {
    const std::string& site = filters.site;
    const auto now = NowUnix();
    if (what == "devices") {
      pb::ListDevicesRequest req;
      req.set_site(site);
      req.set_selector(filters.selector);
      pb::ListDevicesResponse resp;
      EDGE_TRY(Check(stub_->ListDevices(CallContext().get(), req, &resp), "list devices"));
      if (format == OutputFormat::kJson) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& d : resp.devices()) out.push_back(DeviceJson(d));
        PrintJson(out);
        return Ok();
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& d : resp.devices())
        rows.push_back({d.id(), d.site(), d.online() ? "online" : "offline", ModelsCell(d), StateCell(d),
                        FormatAge(d.last_seen(), now), LabelsCell(d)});
      PrintTable({"DEVICE", "SITE", "STATUS", "MODELS", "STATE", "LAST SEEN", "LABELS"}, rows);
    } else if (what == "sites") {
      pb::ListSitesResponse resp;
      EDGE_TRY(Check(stub_->ListSites(CallContext().get(), pb::ListSitesRequest(), &resp), "list sites"));
      if (format == OutputFormat::kJson) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& s : resp.sites())
          out.push_back({{"name", s.name()}, {"created_at", s.created_at()}, {"devices", s.device_count()}});
        PrintJson(out);
        return Ok();
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& s : resp.sites()) rows.push_back({s.name(), std::to_string(s.device_count()), FormatTime(s.created_at())});
      PrintTable({"SITE", "DEVICES", "CREATED"}, rows);
    } else if (what == "controllers") {
      pb::ListControllersResponse resp;
      EDGE_TRY(Check(stub_->ListControllers(CallContext().get(), pb::ListControllersRequest(), &resp), "list controllers"));
      if (format == OutputFormat::kJson) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& c : resp.controllers())
          out.push_back({{"id", c.id()}, {"host", c.host()}, {"agent_endpoint", c.agent_endpoint()},
                         {"operator_endpoint", c.operator_endpoint()}, {"started_at", c.started_at()},
                         {"heartbeat_at", c.heartbeat_at()}, {"agents", c.agents()}, {"planner", c.planner()},
                         {"alive", c.alive()}, {"answering", c.answering()}});
        PrintJson(out);
        return Ok();
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& c : resp.controllers())
        rows.push_back({TerminalSafe(c.id()) + (c.answering() ? " *" : ""), c.alive() ? "alive" : "dead",
                        c.planner() ? "yes" : "", std::to_string(c.agents()), TerminalSafe(c.agent_endpoint()),
                        TerminalSafe(c.operator_endpoint()), FormatAge(c.heartbeat_at(), now)});
      PrintTable({"CONTROLLER", "STATE", "PLANNER", "AGENTS", "AGENT ENDPOINT", "OPERATOR ENDPOINT", "HEARTBEAT"}, rows);
    } else if (what == "models") {
      pb::ListModelsResponse resp;
      EDGE_TRY(Check(stub_->ListModels(CallContext().get(), pb::ListModelsRequest(), &resp), "list models"));
      if (format == OutputFormat::kJson) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& v : resp.versions())
          out.push_back({{"model", v.model()}, {"version", v.version()}, {"security_version", v.security_version()},
                         {"bytes", v.total_bytes()}, {"signed_by", v.signed_by()}, {"pushed_by", v.pushed_by()},
                         {"pushed_at", v.pushed_at()}, {"manifest_digest", v.manifest_digest()}});
        PrintJson(out);
        return Ok();
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& v : resp.versions())
        rows.push_back({v.model(), v.version(), std::to_string(v.security_version()), FormatBytes(v.total_bytes()),
                        v.signed_by(), v.pushed_by(), FormatTime(v.pushed_at())});
      PrintTable({"MODEL", "VERSION", "SECURITY", "SIZE", "SIGNED BY", "PUSHED BY", "PUSHED"}, rows);
    } else if (what == "audit") {
      pb::ListAuditRequest req;
      req.set_limit(filters.limit);
      req.set_actor(filters.actor);
      req.set_action(filters.action);
      req.set_result(filters.result);
      pb::ListAuditResponse resp;
      EDGE_TRY(Check(stub_->ListAudit(CallContext().get(), req, &resp), "list audit"));
      // A controller from before refused calls were audited sends no result: its rows are actions.
      auto result = [](const pb::AuditEntry& a) { return a.result().empty() ? std::string("ok") : a.result(); };
      if (format == OutputFormat::kJson) {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& a : resp.entries())
          out.push_back({{"id", a.id()}, {"at", a.at()}, {"actor", a.actor()}, {"result", result(a)},
                         {"action", a.action()}, {"target", a.target()}, {"detail", a.detail()}});
        PrintJson(out);
        return Ok();
      }
      std::vector<std::vector<std::string>> rows;
      for (const auto& a : resp.entries())
        rows.push_back({std::to_string(a.id()), FormatTime(a.at()), a.actor(), result(a), a.action(), a.target(),
                        a.detail()});
      PrintTable({"ID", "AT", "ACTOR", "RESULT", "ACTION", "TARGET", "DETAIL"}, rows);
    } else {
      return Fail(ErrorCode::kInvalidArgument, "cannot get '" + what + "': use devices, sites, models, rollouts or audit");
    }
    return Ok();
  }

  Status DescribeDevice(const std::string& id, OutputFormat format) override {
    EDGE_ASSIGN_OR_RETURN(auto detail, Describe(id));
    if (format == OutputFormat::kJson) PrintJson(DetailJson(detail));
    else PrintDeviceDetail(detail, NowUnix(), std::cout);
    return Ok();
  }

  Status DescribeDevices(const std::string& selector, OutputFormat format) override {
    pb::ListDevicesRequest req;
    req.set_selector(selector);
    pb::ListDevicesResponse list;
    EDGE_TRY(Check(stub_->ListDevices(CallContext().get(), req, &list), "list devices"));
    if (list.devices().empty()) return Fail(ErrorCode::kNotFound, "no device matches -l " + selector);
    nlohmann::json all = nlohmann::json::array();
    for (int i = 0; i < list.devices_size(); ++i) {
      EDGE_ASSIGN_OR_RETURN(auto detail, Describe(list.devices(i).id()));
      if (format == OutputFormat::kJson) {
        all.push_back(DetailJson(detail));
        continue;
      }
      if (i > 0) std::cout << "\n";
      PrintDeviceDetail(detail, NowUnix(), std::cout);
    }
    if (format == OutputFormat::kJson) PrintJson(all);
    return Ok();
  }

 private:
  Result<pb::DeviceDetail> Describe(const std::string& id) {
    pb::DescribeDeviceRequest req;
    req.set_id(id);
    pb::DeviceDetail resp;
    EDGE_TRY(Check(stub_->DescribeDevice(CallContext().get(), req, &resp), "describe device " + id));
    return resp;
  }

  static nlohmann::json DetailJson(const pb::DeviceDetail& detail) {
    auto j = DeviceJson(detail.device());
    j["cert_serial"] = detail.cert_serial();
    j["facts"] = nlohmann::json::parse(detail.facts_json(), nullptr, false);
    AddHealthJson(detail, j);
    return j;
  }

  std::unique_ptr<pb::OperatorService::Stub> stub_;
  std::string target_;
  std::string unreachable_hint_;
};

enum class Connection { kReady, kFailed, kTimedOut };

// Waits until the channel is ready or has failed to connect. gRPC ends each attempt at the
// channel's connect timeout; the extra second only covers the wake-up after it.
Connection AwaitConnection(grpc::Channel& channel, std::chrono::milliseconds connect_timeout) {
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = std::chrono::system_clock::now() + connect_timeout + std::chrono::seconds(1);
  auto state = channel.GetState(/*try_to_connect=*/true);
  while (state != GRPC_CHANNEL_READY && state != GRPC_CHANNEL_TRANSIENT_FAILURE && state != GRPC_CHANNEL_SHUTDOWN) {
    if (!channel.WaitForStateChange(state, deadline)) return Connection::kTimedOut;
    state = channel.GetState(false);
  }
  if (state == GRPC_CHANNEL_READY) return Connection::kReady;
  return tls::EndedByConnectTimeout(std::chrono::steady_clock::now() - started, connect_timeout) ? Connection::kTimedOut
                                                                                                 : Connection::kFailed;
}

}  // namespace

Error OperatorCallError(const grpc::Status& s, std::string_view what, pb::OperatorService::Stub& stub,
                        const std::string& target, const std::string& unreachable_hint) {
  if (s.error_code() == grpc::StatusCode::UNIMPLEMENTED) {
    pb::VersionInfo ignored;
    const grpc::Status probe = stub.GetVersion(CallContext().get(), pb::GetVersionRequest(), &ignored);
    if (probe.error_code() == grpc::StatusCode::UNIMPLEMENTED)
      return {ErrorCode::kUnauthenticated,
              std::string(what) + ": the listener at " + target +
                  " is not the controller's operator endpoint (it does not serve the operator API; is this its "
                  "enrollment port?): use the port of the controller's operator_listen"};
    return {ErrorCode::kFailedPrecondition, std::string(what) + ": the controller at " + target +
                                                " does not implement this call (is it older than this edgectl?)"};
  }
  Error e = tls::FromGrpcStatus(s, what);
  e.message = TerminalSafe(e.message);  // the controller's words, printed to a terminal
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE) e.message += unreachable_hint;
  return e;
}

Result<OperatorChannel> ConnectOperatorChannel(const Context& c) {
  auto read = [](const std::filesystem::path& p, const char* what) -> Result<std::string> {
    auto r = fs::ReadFile(p, 256 * 1024);
    if (!r) return Fail(ErrorCode::kBadConfig, std::string("context ") + what + ": " + r.error().message);
    return r;
  };
  OperatorTlsFiles files{c.ca.string(), c.cert.string(), c.key.string(), {}, {}, {}};
  EDGE_ASSIGN_OR_RETURN(files.ca_pem, read(c.ca, "ca"));
  EDGE_ASSIGN_OR_RETURN(files.cert_pem, read(c.cert, "cert"));
  EDGE_ASSIGN_OR_RETURN(files.key_pem, read(c.key, "key"));
  EDGE_TRY(CheckOperatorKeyMaterial(files, static_cast<int64_t>(std::time(nullptr))));
  // Several controllers sharing one database ("a:7445,b:7445"): the first that connects.
  EDGE_ASSIGN_OR_RETURN(auto addresses, config::SplitAddressList(c.controller));
  Connection connection = Connection::kFailed;
  std::string address;
  for (const auto& candidate : addresses) {
    address = candidate;
    auto channel = grpc::CreateCustomChannel(address, tls::ClientCredentials({files.ca_pem, files.cert_pem, files.key_pem}),
                                             tls::ClientChannelArgs(c.connect_timeout));
    connection = AwaitConnection(*channel, c.connect_timeout);
    const std::string hint = " (is the controller at " + address + " running, and does it accept this operator certificate?)";
    if (connection == Connection::kReady) return OperatorChannel{channel, hint, address};
  }
  // None answered: what is said is about the last one tried. gRPC says only "unavailable":
  // retrace the connection to name the step that failed (a quick failure only, so the whole
  // takes about the connect timeout). If the retrace connects, say what gRPC's attempt ran into.
  const std::string others =
      addresses.size() > 1 ? " (nor at any of " + c.controller + ", each given the connect timeout)" : "";
  const Error fallback =
      connection == Connection::kTimedOut
          ? Error{ErrorCode::kDeadlineExceeded,
                  "no connection to the controller at " + address + others + " within the connect timeout of " +
                      std::to_string(c.connect_timeout.count()) +
                      " ms: " + std::string(tls::kConnectTimeoutTooShort) +
                      "; raise --connect-timeout-ms or the context's connect_timeout_ms"}
          : Error{ErrorCode::kUnavailable, "cannot connect to the controller at " + address + others +
                                               " (is the controller at " + address +
                                               " running, and does it accept this operator certificate?)"};
  // A timed-out attempt has used the whole budget: say so rather than spend it again.
  if (connection == Connection::kTimedOut) return Fail(fallback);
  return Fail(DiagnoseOperatorConnection(address, files, c.connect_timeout, fallback));
}

Result<std::unique_ptr<OperatorClient>> OperatorClient::Connect(const Context& c) {
  EDGE_ASSIGN_OR_RETURN(auto connected, ConnectOperatorChannel(c));
  return std::unique_ptr<OperatorClient>(new GrpcOperatorClient(connected.channel, connected.address, connected.unreachable_hint));
}

Result<int64_t> ParseDurationSeconds(const std::string& text, bool allow_zero) {
  if (text.empty()) return Fail(ErrorCode::kInvalidArgument, "empty duration");
  size_t pos = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &pos);
  } catch (...) {
    return Fail(ErrorCode::kInvalidArgument, "bad duration '" + text + "' (use e.g. 90s, 15m, 2h, 7d)");
  }
  const std::string unit = text.substr(pos);
  int64_t mult = 0;
  if (unit.empty() || unit == "s") mult = 1;
  else if (unit == "m") mult = 60;
  else if (unit == "h") mult = 3600;
  else if (unit == "d") mult = 86400;
  // The cap is on the total, not on the number: "1000d" is as wrong as "100000000s".
  constexpr int64_t kMaxSeconds = 365LL * 86400;
  if (mult == 0 || value < (allow_zero ? 0 : 1) || value > kMaxSeconds / mult)
    return Fail(ErrorCode::kInvalidArgument, "bad duration '" + text + "' (use e.g. 90s, 15m, 2h, 7d)");
  return value * mult;
}

}  // namespace edge::edgectl
