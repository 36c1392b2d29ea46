#include "controller/edgectl/rollout_cmd.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include "controller/edgectl/exit_codes.h"
#include "controller/edgectl/operator_call.h"
#include "controller/edgectl/output.h"
#include "controller/edgectl/remote.h"
#include "controller/rollout/rollout.h"
#include "controller/rollout/selector.h"

namespace edge::edgectl {

namespace pb = edge::v1;
namespace ro = edge::controller::rollout;

namespace {

Error Usage(const std::string& flag, const std::string& why) { return Error{ErrorCode::kInvalidArgument, flag + ": " + why}; }

Result<ro::Amount> AmountFlag(const std::string& flag, const std::string& text) {
  auto a = ro::ParseAmount(text);
  if (!a) return Fail(Usage(flag, a.error().message));
  return *a;
}

// "95%" or "0.95" → 0.95.
Result<double> RatioFlag(const std::string& flag, const std::string& text, double max = 1.0) {
  std::string t = text;
  const bool percent = !t.empty() && t.back() == '%';
  if (percent) t.pop_back();
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (t.empty() || end != t.c_str() + t.size() || !std::isfinite(v))
    return Fail(Usage(flag, "'" + text + "' is not a percentage (e.g. 20%)"));
  const double ratio = percent ? v / 100 : v;
  if (ratio < 0 || ratio > max) return Fail(Usage(flag, "'" + text + "' is out of range"));
  return ratio;
}

// `allow_zero`: 0 (in any unit) means none, e.g. no soak.
Result<int64_t> DurationFlag(const std::string& flag, const std::string& text, bool allow_zero = false) {
  auto d = ParseDurationSeconds(text, allow_zero);
  if (!d) return Fail(Usage(flag, d.error().message));
  return *d;
}

void SetAmount(const ro::Amount& a, pb::Amount* out) {
  if (a.is_percent) out->set_percent(a.percent);
  else out->set_count(a.count);
}

std::string AmountText(const pb::Amount& a) {
  ro::Amount r = a.kind_case() == pb::Amount::kPercent ? ro::Amount::Percent(a.percent()) : ro::Amount::Count(a.count());
  return r.Text();
}

std::string Pct(double ratio) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", std::round(ratio * 1000) / 10);
  return buf;
}

uint32_t Count(const pb::Rollout& r, const std::string& state) {
  auto it = r.counts().find(state);
  return it == r.counts().end() ? 0 : it->second;
}

std::vector<std::string> SplitCommas(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    std::stringstream in(item);
    std::string part;
    while (std::getline(in, part, ','))
      if (!part.empty()) out.push_back(part);
  }
  return out;
}

bool IsTty() { return isatty(STDERR_FILENO) == 1; }

}  // namespace

Result<pb::CreateRolloutRequest> BuildCreateRequest(const DeployFlags& f) {
  pb::CreateRolloutRequest req;
  if (auto colon = f.ref.find(':'); colon != std::string::npos) {
    req.set_model(f.ref.substr(0, colon));
    req.set_version(f.ref.substr(colon + 1));
  } else {
    req.set_version(f.ref);
  }
  for (const auto& s : SplitCommas(f.sites)) req.mutable_target()->add_sites(s);
  for (const auto& d : SplitCommas(f.devices)) req.mutable_target()->add_devices(d);
  req.mutable_target()->set_selector(f.selector);
  if (req.target().sites_size() == 0 && req.target().devices_size() == 0 && f.selector.empty())
    return Fail(Usage("target", "give --site, -l/--selector or --device"));
  req.set_allow_empty(f.allow_empty);
  const bool any_strategy_flag =
      !f.canary.empty() || !f.waves.empty() || !f.site_budget.empty() || !f.soak.empty() || !f.device_timeout.empty() ||
      !f.success_threshold.empty() || !f.failure_threshold.empty() || !f.max_latency_regression.empty() ||
      !f.max_error_rate_increase.empty() || !f.health_timeout.empty() || !f.on_failure.empty() ||
      !f.insufficient_traffic.empty() || f.max_parallel || f.min_requests || f.max_restarts || f.canary_per_site ||
      f.no_health_gates;
  if (f.all_at_once && (!f.canary.empty() || !f.waves.empty() || f.canary_per_site))
    return Fail(Usage("--all-at-once", "cannot be combined with --canary, --canary-per-site or --waves"));
  if (!f.all_at_once && !any_strategy_flag) {
    req.set_use_default_strategy(true);
    return req;
  }
  ro::Strategy s = f.all_at_once ? ro::AllAtOnce() : ro::Strategy{};
  if (!f.canary.empty()) { EDGE_ASSIGN_OR_RETURN(s.canary, AmountFlag("--canary", f.canary)); }
  s.canary_per_site = s.canary_per_site || f.canary_per_site;
  if (!f.waves.empty()) {
    s.waves.clear();
    for (const auto& w : SplitCommas({f.waves})) {
      EDGE_ASSIGN_OR_RETURN(auto a, AmountFlag("--waves", w));
      s.waves.push_back(a);
    }
  }
  if (f.max_parallel) s.max_parallel = *f.max_parallel;
  if (!f.site_budget.empty()) { EDGE_ASSIGN_OR_RETURN(s.site_budget, AmountFlag("--site-budget", f.site_budget)); }
  if (!f.soak.empty()) { EDGE_ASSIGN_OR_RETURN(s.soak_seconds, DurationFlag("--soak", f.soak, true)); }
  if (!f.device_timeout.empty()) { EDGE_ASSIGN_OR_RETURN(s.device_timeout_seconds, DurationFlag("--device-timeout", f.device_timeout)); }
  if (!f.health_timeout.empty()) { EDGE_ASSIGN_OR_RETURN(s.health_timeout_seconds, DurationFlag("--health-timeout", f.health_timeout)); }
  if (!f.success_threshold.empty()) {
    EDGE_ASSIGN_OR_RETURN(s.success_threshold, RatioFlag("--success-threshold", f.success_threshold));
  }
  if (!f.failure_threshold.empty()) {
    EDGE_ASSIGN_OR_RETURN(s.failure_threshold, RatioFlag("--failure-threshold", f.failure_threshold));
  }
  if (!f.max_latency_regression.empty()) {
    EDGE_ASSIGN_OR_RETURN(s.max_latency_regression, RatioFlag("--max-latency-regression", f.max_latency_regression, 100));
  }
  if (!f.max_error_rate_increase.empty()) {
    EDGE_ASSIGN_OR_RETURN(s.max_error_rate_increase, RatioFlag("--max-error-rate-increase", f.max_error_rate_increase));
  }
  if (f.min_requests) s.min_requests = *f.min_requests;
  if (f.max_restarts) s.max_restarts = *f.max_restarts;
  if (f.no_health_gates) s.health_gates = false;
  if (!f.on_failure.empty()) {
    auto v = ro::ParseOnFailure(f.on_failure);
    if (!v) return Fail(Usage("--on-failure", "must be pause, abort or revert"));
    s.on_failure = *v;
  }
  if (!f.insufficient_traffic.empty()) {
    auto v = ro::ParseInsufficientTraffic(f.insufficient_traffic);
    if (!v) return Fail(Usage("--insufficient-traffic", "must be pause or proceed"));
    s.insufficient_traffic = *v;
  }
  if (auto v = ro::Validate(s); !v) return Fail(Usage("strategy", v.error().message));
  auto* p = req.mutable_strategy();
  SetAmount(s.canary, p->mutable_canary());
  p->set_canary_per_site(s.canary_per_site);
  for (const auto& w : s.waves) SetAmount(w, p->add_waves());
  p->set_max_parallel(s.max_parallel);
  SetAmount(s.site_budget, p->mutable_site_budget());
  p->set_soak_seconds(s.soak_seconds);
  p->set_device_timeout_seconds(s.device_timeout_seconds);
  p->set_success_threshold(s.success_threshold);
  p->set_failure_threshold(s.failure_threshold);
  p->set_health_gates(s.health_gates);
  p->set_min_requests(s.min_requests);
  p->set_max_latency_regression(s.max_latency_regression);
  p->set_max_error_rate_increase(s.max_error_rate_increase);
  p->set_max_restarts(s.max_restarts);
  p->set_health_timeout_seconds(s.health_timeout_seconds);
  p->set_on_failure(std::string(ro::Name(s.on_failure)));
  p->set_insufficient_traffic(std::string(ro::Name(s.insufficient_traffic)));
  return req;
}

std::string DescribeStrategy(const pb::RolloutStrategy& s) {
  std::string out;
  if (s.all_at_once()) {
    out = "all at once";
  } else {
    out = "canary " + AmountText(s.canary()) + (s.canary_per_site() ? " per site" : "");
    for (const auto& w : s.waves()) out += ", " + AmountText(w);
  }
  if (s.max_parallel() > 0) out += "; at most " + std::to_string(s.max_parallel()) + " at once";
  if (!(s.site_budget().kind_case() == pb::Amount::kCount && s.site_budget().count() == 0) &&
      s.site_budget().kind_case() != pb::Amount::KIND_NOT_SET)
    out += "; per site at most " + AmountText(s.site_budget()) + " at once";
  if (s.soak_seconds() > 0) out += "; soak " + FormatDuration(s.soak_seconds());
  out += "; device timeout " + FormatDuration(s.device_timeout_seconds());
  out += "; install: success ≥ " + Pct(s.success_threshold()) + ", failures ≤ " + Pct(s.failure_threshold());
  if (s.health_gates())
    out += "; health: ≥ " + std::to_string(s.min_requests()) + " requests, p99 ≤ +" + Pct(s.max_latency_regression()) +
           ", errors ≤ +" + Pct(s.max_error_rate_increase()) + ", restarts ≤ " + std::to_string(s.max_restarts()) +
           ", too little traffic: " + s.insufficient_traffic() + " after " + FormatDuration(s.health_timeout_seconds());
  else
    out += "; health gates off";
  out += "; on failure " + s.on_failure();
  return out;
}

std::string DescribeTarget(const pb::RolloutTarget& t) {
  std::vector<std::string> parts;
  auto join = [](const auto& list) {
    std::string s;
    for (const auto& x : list) s += (s.empty() ? "" : ",") + x;
    return s;
  };
  if (t.sites_size() > 0) parts.push_back((t.sites_size() == 1 ? "site " : "sites ") + join(t.sites()));
  if (!t.selector().empty()) parts.push_back("labels " + t.selector());
  if (t.devices_size() > 0) parts.push_back((t.devices_size() == 1 ? "device " : "devices ") + join(t.devices()));
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : " and ") + p;
  return out;
}

std::optional<int> FinalExitCode(const pb::Rollout& r) {
  const std::string& s = r.state();
  if (s == "completed") return Count(r, "updated") > 0 || r.devices_total() == 0 ? kExitOk : kExitError;
  if (s == "aborted" || s == "reverted") return kExitError;  // reverting: follow the revert to its end
  if (s == "paused" && r.reason().rfind("paused by the operator", 0) != 0) return kExitError;
  return std::nullopt;
}

std::string ProgressLine(const pb::Rollout& r) {
  const uint32_t total = r.devices_total();
  std::string wave = r.wave_count() == 1 ? "all at once" : "wave " + std::to_string(r.wave()) + "/" + std::to_string(r.wave_count() - 1);
  std::string line = wave + " " + r.state() + ": ";
  if (static_cast<int>(r.wave()) < r.waves_size()) {
    const auto& w = r.waves(static_cast<int>(r.wave()));
    line += std::to_string(w.updated()) + "/" + std::to_string(w.devices()) + " updated";
    if (w.failed()) line += ", " + std::to_string(w.failed()) + " failed";
    if (w.timed_out()) line += ", " + std::to_string(w.timed_out()) + " timed out";
    if (w.completed_at() > 0 && w.gate().empty() && r.state() == "running") line += ", soaking";
  }
  line += " · " + std::to_string(Count(r, "updated")) + "/" + std::to_string(total) + " devices updated";
  for (const char* k : {"failed", "skipped", "timed_out", "reverting", "reverted", "revert_failed"})
    if (Count(r, k)) line += ", " + std::to_string(Count(r, k)) + " " + k;
  return line;
}

// `[#####·····]`: the share of the target that runs the version (#) and that has an outcome
// other than updated (x: failed, skipped, timed out, reverted), out of 20 cells.
std::string ProgressBar(const pb::Rollout& r) {
  constexpr int kCells = 20;
  const double total = std::max<uint32_t>(1, r.devices_total());
  const int done = std::min(kCells, static_cast<int>(kCells * Count(r, "updated") / total));
  uint32_t other = 0;
  for (const char* k : {"failed", "skipped", "timed_out", "reverted", "revert_failed"}) other += Count(r, k);
  const int bad = std::min(kCells - done, static_cast<int>(std::ceil(kCells * other / total)));
  return "[" + std::string(done, '#') + std::string(bad, 'x') + std::string(kCells - done - bad, '.') + "]";
}

nlohmann::json RolloutJson(const pb::Rollout& r) {
  nlohmann::json waves = nlohmann::json::array();
  for (const auto& w : r.waves())
    waves.push_back({{"index", w.index()}, {"devices", w.devices()}, {"dispatched", w.dispatched()}, {"updated", w.updated()},
                     {"failed", w.failed()}, {"skipped", w.skipped()}, {"timed_out", w.timed_out()},
                     {"started_at", w.started_at()}, {"completed_at", w.completed_at()}, {"gate", w.gate()}});
  nlohmann::json devices = nlohmann::json::array();
  for (const auto& d : r.devices())
    devices.push_back({{"id", d.id()}, {"site", d.site()}, {"state", d.state()}, {"wave", d.wave()},
                       {"from_version", d.from_version()}, {"dispatched_at", d.dispatched_at()}, {"done_at", d.done_at()},
                       {"dispatches", d.dispatches()}, {"detail", d.detail()}});
  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [k, v] : r.counts()) counts[k] = v;
  return {{"id", r.id()}, {"model", r.model()}, {"version", r.version()}, {"target", DescribeTarget(r.target())},
          {"strategy", DescribeStrategy(r.strategy())}, {"state", r.state()}, {"wave", r.wave()},
          {"wave_count", r.wave_count()}, {"reason", r.reason()}, {"created_by", r.created_by()},
          {"created_at", r.created_at()}, {"updated_at", r.updated_at()}, {"devices_total", r.devices_total()},
          {"counts", counts}, {"waves", waves}, {"devices", devices}};
}

namespace {

Result<pb::Rollout> Fetch(const Remote& remote, int64_t id, int64_t events_after = 0) {
  pb::GetRolloutRequest req;
  req.set_id(id);
  req.set_events_after(events_after);
  pb::Rollout r;
  EDGE_TRY(Call(remote, "get rollout", [&](auto& stub, auto& ctx) { return stub.GetRollout(&ctx, req, &r); }));
  return r;
}

// What a finished wait prints: the devices that did not take the version, and why.
void PrintOutcome(const pb::Rollout& r) {
  std::vector<std::string> failed, other;
  for (const auto& d : r.devices()) {
    if (d.state() == "failed") failed.push_back(d.id() + ": " + d.detail());
    else if (d.state() == "skipped" || d.state() == "timed_out" || d.state() == "revert_failed")
      other.push_back(d.id() + " " + d.state() + ": " + d.detail());
  }
  if (!failed.empty()) {
    WriteLine(std::cerr, std::to_string(failed.size()) + " device(s) failed to install or rolled back " + r.model() + ":" +
                             r.version() + ":");
    for (const auto& f : failed) WriteLine(std::cerr, "  " + f);
  }
  for (const auto& o : other) WriteLine(std::cerr, "  " + o);
  if (!r.reason().empty()) WriteLine(std::cerr, "rollout " + std::to_string(r.id()) + " " + r.state() + ": " + r.reason());
}

// Follows the rollout until it ends (or `timeout`): a bar redrawn in place on a TTY, lines on
// change otherwise; with `json`, JSON Lines: one object per event, then the rollout as it ended.
// Returns the exit code.
int Follow(const Remote& remote, int64_t id, std::chrono::seconds timeout, bool json) {
  const auto started = std::chrono::steady_clock::now();
  int64_t last_event = 0;
  std::string last_line;
  const bool tty = !json && IsTty();
  for (;;) {
    auto r = Fetch(remote, id, last_event);
    if (!r) return Report(r.error());
    for (const auto& e : r->events()) {
      last_event = std::max(last_event, e.id());
      if (json) {
        std::cout << FormatJsonLine({{"at", e.at()}, {"kind", e.kind()}, {"device", e.device()}, {"detail", e.detail()}}) << std::endl;
      } else if (e.device().empty()) {
        if (tty) {
          std::cerr << "\r\033[K";
          last_line.clear();  // the event took the bar's line: draw it again below
        }
        WriteLine(std::cerr, FormatTime(e.at()) + "  " + e.kind() + ": " + e.detail());
      }
    }
    const std::string line = ProgressLine(*r);
    if (!json && line != last_line) {
      if (tty) std::cerr << "\r\033[K" << ProgressBar(*r) << " " << TerminalSafe(line) << std::flush;
      else WriteLine(std::cerr, line);
      last_line = line;
    }
    if (auto code = FinalExitCode(*r)) {
      if (tty) std::cerr << "\n";
      if (json) std::cout << FormatJsonLine(RolloutJson(*r)) << std::endl;
      PrintOutcome(*r);
      if (*code == kExitOk)
        WriteLine(std::cerr, "converged: " + std::to_string(Count(*r, "updated")) + "/" + std::to_string(r->devices_total()) +
                                 " devices run " + r->model() + ":" + r->version());
      return *code;
    }
    if (std::chrono::steady_clock::now() - started > timeout) {
      if (tty) std::cerr << "\n";
      WriteLine(std::cerr, "edgectl: timed out after " + FormatDuration(timeout.count()) + ": " + line +
                               " (the rollout goes on; follow it with: edgectl rollout watch " + std::to_string(id) + ")");
      return kExitTimeout;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

void PrintRolloutTable(const std::vector<pb::Rollout>& rollouts) {
  const int64_t now = NowUnix();
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : rollouts)
    rows.push_back({std::to_string(r.id()), r.model() + ":" + r.version(), DescribeTarget(r.target()), r.state(),
                    r.wave_count() == 1 ? "-" : std::to_string(r.wave()) + "/" + std::to_string(r.wave_count() - 1),
                    std::to_string(r.devices_total()), std::to_string(Count(r, "updated")), std::to_string(Count(r, "failed")),
                    std::to_string(Count(r, "skipped")), FormatAge(r.created_at(), now)});
  PrintTable({"ID", "VERSION", "TARGET", "STATE", "WAVE", "DEVICES", "UPDATED", "FAILED", "SKIPPED", "AGE"}, rows);
}

void PrintDescribe(const pb::Rollout& r) {
  // Each field made terminal-safe on its own (TerminalSafe escapes line breaks too).
  auto field = [](const char* name, const std::string& value) { std::cout << name << TerminalSafe(value) << "\n"; };
  field("Rollout:   ", std::to_string(r.id()));
  field("Version:   ", r.model() + ":" + r.version());
  field("Target:    ", DescribeTarget(r.target()));
  field("Strategy:  ", DescribeStrategy(r.strategy()));
  field("State:     ", r.state() + (r.reason().empty() ? "" : " (" + r.reason() + ")"));
  field("Created:   ", FormatTime(r.created_at()) + " by " + r.created_by());
  field("Progress:  ", ProgressLine(r));
  std::cout << "\nWaves:\n";
  std::vector<std::vector<std::string>> waves;
  for (const auto& w : r.waves())
    waves.push_back({std::to_string(w.index()), std::to_string(w.devices()), std::to_string(w.updated()),
                     std::to_string(w.failed()), std::to_string(w.timed_out()), FormatTime(w.started_at()),
                     !w.gate().empty() ? w.gate() : w.completed_at() && r.state() == "running" ? "soaking" : "-"});
  std::cout << FormatTable({"WAVE", "DEVICES", "UPDATED", "FAILED", "TIMED OUT", "STARTED", "GATE"}, waves, "  ");
  std::cout << "Devices:\n";
  std::vector<std::vector<std::string>> devices;
  for (const auto& d : r.devices())
    devices.push_back({d.id(), d.site(), d.wave() < 0 ? "-" : std::to_string(d.wave()), d.state(),
                       d.from_version().empty() ? "-" : d.from_version(), std::to_string(d.dispatches()), d.detail()});
  std::cout << FormatTable({"DEVICE", "SITE", "WAVE", "STATE", "FROM", "DISPATCHES", "DETAIL"}, devices, "  ");
  std::cout << "Events:\n";
  for (const auto& e : r.events())
    std::cout << "  " << TerminalSafe(FormatTime(e.at()) + "  " + e.kind() + (e.device().empty() ? "" : " " + e.device()) + ": " +
                                      e.detail())
              << "\n";
}

Result<std::vector<pb::Rollout>> List(const Remote& remote, bool all) {
  pb::ListRolloutsRequest req;
  req.set_all(all);
  pb::ListRolloutsResponse resp;
  EDGE_TRY(Call(remote, "list rollouts", [&](auto& stub, auto& ctx) { return stub.ListRollouts(&ctx, req, &resp); }));
  return std::vector<pb::Rollout>(resp.rollouts().begin(), resp.rollouts().end());
}

}  // namespace

Status GetRollouts(const Context& context, bool json, bool all) {
  EDGE_ASSIGN_OR_RETURN(auto remote, Dial(context));
  EDGE_ASSIGN_OR_RETURN(auto rollouts, List(remote, all));
  if (json) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& r : rollouts) out.push_back(RolloutJson(r));
    PrintJson(out);
  } else {
    PrintRolloutTable(rollouts);
  }
  return Ok();
}

void RegisterRolloutCommands(CLI::App& app, CLI::App& deploy, std::function<Result<Context>()> context,
                             const std::string& output_format, int& exit_code) {
  auto commands = std::make_shared<Commands>(Commands{std::move(context), output_format, exit_code});
  struct Args {
    DeployFlags deploy;
    bool wait = false;
    std::string timeout = "30m";
    int64_t id = 0;
    bool all = false, revert = false;
    std::string reason;
    std::string label_device;
    std::vector<std::string> labels;
  };
  auto a = std::make_shared<Args>();

  auto* m = deploy.add_subcommand("model", "create a rollout of a model version (docs/operations.md \"Rollouts\")");
  m->add_option("ref", a->deploy.ref, "name:version, or a bare version that exactly one model has")->required();
  m->add_option("--site", a->deploy.sites, "target site (repeat or comma-separate for several)");
  m->add_option("-l,--selector", a->deploy.selector, "target label selector, e.g. line=3,camera!=ir");
  m->add_option("--device", a->deploy.devices, "target device id (repeat or comma-separate)");
  m->add_flag("--all-at-once", a->deploy.all_at_once, "one wave of every device, no soak, no health gates");
  m->add_option("--canary", a->deploy.canary, "first wave: N devices or P% (default 1)");
  m->add_flag("--canary-per-site", a->deploy.canary_per_site, "take the canary from every site");
  m->add_option("--waves", a->deploy.waves, "later waves, cumulative, e.g. 25%,100% (default)");
  m->add_option("--max-parallel", a->deploy.max_parallel, "devices updating at once, fleet-wide");
  m->add_option("--site-budget", a->deploy.site_budget, "devices updating at once per site: N or P%");
  m->add_option("--soak", a->deploy.soak, "wait after a wave is done before its health gate passes (default 60s)");
  m->add_option("--device-timeout", a->deploy.device_timeout, "a device with no outcome after this is timed out (10m)");
  m->add_option("--success-threshold", a->deploy.success_threshold, "share of a wave that must install (95%)");
  m->add_option("--failure-threshold", a->deploy.failure_threshold, "share of a wave whose failure stops it at once (10%)");
  m->add_option("--min-requests", a->deploy.min_requests, "requests of the new version a wave needs to judge health (50)");
  m->add_option("--max-latency-regression", a->deploy.max_latency_regression, "p99 above the incumbent's (20%)");
  m->add_option("--max-error-rate-increase", a->deploy.max_error_rate_increase, "error rate above the incumbent's (1%)");
  m->add_option("--max-restarts", a->deploy.max_restarts, "agent restarts per device after the update (2)");
  m->add_option("--health-timeout", a->deploy.health_timeout, "wait this long after the soak for enough traffic (10m)");
  m->add_flag("--no-health-gates", a->deploy.no_health_gates, "judge waves on install outcomes only");
  m->add_option("--on-failure", a->deploy.on_failure, "pause | abort | revert (default revert)");
  m->add_option("--insufficient-traffic", a->deploy.insufficient_traffic, "pause | proceed (default pause)");
  m->add_flag("--allow-empty", a->deploy.allow_empty, "create it even if no device matches yet (a standing target)");
  m->add_flag("--wait", a->wait, "follow it until it completes, stops or --timeout");
  m->add_option("--timeout", a->timeout, "give up waiting after this long (exit 75)")->capture_default_str();
  On(commands, m, [a](const Remote& r, bool json) -> int {
    auto req = BuildCreateRequest(a->deploy);
    auto timeout = ParseDurationSeconds(a->timeout);
    if (!req || !timeout) {
      std::cerr << "edgectl: " << (req ? "--timeout: " + timeout.error().message : req.error().message) << "\n";
      return kExitUsage;
    }
    pb::Rollout created;
    if (auto s = Call(r, "deploy", [&](auto& stub, auto& ctx) { return stub.CreateRollout(&ctx, *req, &created); }); !s)
      return Report(s.error());
    // A controller that is not the planner (several share the database) stores the rollout; the
    // planner takes its first step within a second or two: wait for it, up to 5 s, to show it.
    for (int i = 0; i < 25 && !a->deploy.allow_empty && created.waves_size() == 0 && created.state() == "running"; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      auto now = Fetch(r, created.id());
      if (!now) break;  // shown as created
      created = std::move(*now);
    }
    uint32_t dispatched = 0;
    for (const auto& w : created.waves()) dispatched += w.dispatched();
    WriteLine(std::cerr, "rollout " + std::to_string(created.id()) + ": " + created.model() + ":" + created.version() + " → " +
                             DescribeTarget(created.target()) + " (" + std::to_string(created.devices_total()) + " devices, " +
                             std::to_string(dispatched) + " changed; " + DescribeStrategy(created.strategy()) + ")");
    if (!a->wait) {
      if (json) PrintJson(RolloutJson(created));
      return kExitOk;
    }
    return Follow(r, created.id(), std::chrono::seconds(*timeout), json);
  });

  // label device ID key=value... key-
  auto* label = app.add_subcommand("label", "set or remove labels")->require_subcommand(1);
  auto* l_device = label->add_subcommand("device", "label a device: key=value sets, key- removes");
  l_device->add_option("id", a->label_device, "device id")->required();
  l_device->add_option("labels", a->labels, "key=value or key-")->required();
  On(commands, l_device, [a](const Remote& r, bool json) -> Status {
    auto edit = ro::ParseLabelEdits(a->labels);
    if (!edit) return Fail(edit.error());
    pb::LabelDeviceRequest req;
    req.set_id(a->label_device);
    for (const auto& [k, v] : edit->set) (*req.mutable_set())[k] = v;
    for (const auto& k : edit->remove) req.add_remove(k);
    pb::Device out;
    EDGE_TRY(Call(r, "label device", [&](auto& stub, auto& ctx) { return stub.LabelDevice(&ctx, req, &out); }));
    if (json) {
      PrintJson({{"id", out.id()}, {"labels", std::map<std::string, std::string>(out.labels().begin(), out.labels().end())}});
    } else {
      const std::string text = LabelsText(out);
      WriteLine(std::cerr, "device " + out.id() + " labels: " + (text.empty() ? "(none)" : text));
    }
    return Ok();
  });

  auto* group = app.add_subcommand("rollout", "follow and steer rollouts")->require_subcommand(1);
  auto* get = group->add_subcommand("get", "list rollouts, or one");
  get->add_option("id", a->id, "rollout id");
  get->add_flag("--all", a->all, "also older aborted and reverted ones");
  On(commands, get, [a](const Remote& r, bool json) -> Status {
    std::vector<pb::Rollout> list;
    if (a->id > 0) {
      EDGE_ASSIGN_OR_RETURN(auto one, Fetch(r, a->id));
      list.push_back(std::move(one));
    } else {
      EDGE_ASSIGN_OR_RETURN(list, List(r, a->all));
    }
    if (json) {
      if (a->id > 0) {
        PrintJson(RolloutJson(list.front()));
      } else {
        nlohmann::json out = nlohmann::json::array();
        for (const auto& x : list) out.push_back(RolloutJson(x));
        PrintJson(out);
      }
    } else {
      PrintRolloutTable(list);
    }
    return Ok();
  });
  auto* describe = group->add_subcommand("describe", "a rollout: strategy, waves and gates, devices, events");
  describe->add_option("id", a->id, "rollout id")->required();
  On(commands, describe, [a](const Remote& r, bool json) -> Status {
    EDGE_ASSIGN_OR_RETURN(auto one, Fetch(r, a->id));
    if (json) PrintJson(RolloutJson(one));
    else PrintDescribe(one);
    return Ok();
  });
  auto* watch = group->add_subcommand("watch", "follow a rollout until it completes or stops");
  watch->add_option("id", a->id, "rollout id")->required();
  watch->add_option("--timeout", a->timeout, "give up after this long (exit 75)")->capture_default_str();
  On(commands, watch, [a](const Remote& r, bool json) -> int {
    auto timeout = ParseDurationSeconds(a->timeout);
    if (!timeout) {
      std::cerr << "edgectl: --timeout: " << timeout.error().message << "\n";
      return kExitUsage;
    }
    return Follow(r, a->id, std::chrono::seconds(*timeout), json);
  });
  auto control = [&](const char* name, const char* help, auto rpc_pick) {
    auto* c = group->add_subcommand(name, help);
    c->add_option("id", a->id, "rollout id")->required();
    c->add_option("--reason", a->reason, "why (audited)");
    if (std::string(name) == "abort") c->add_flag("--revert", a->revert, "send every device it moved back");
    On(commands, c, [a, name, rpc_pick](const Remote& r, bool json) -> Status {
      pb::RolloutControlRequest req;
      req.set_id(a->id);
      req.set_reason(a->reason);
      req.set_revert(a->revert);
      pb::Rollout out;
      EDGE_TRY(Call(r, std::string(name) + " rollout", [&](auto& stub, auto& ctx) { return rpc_pick(stub, ctx, req, &out); }));
      if (json) PrintJson(RolloutJson(out));
      else WriteLine(std::cerr, "rollout " + std::to_string(out.id()) + ": " + out.state() + (out.reason().empty() ? "" : " (" + out.reason() + ")"));
      return Ok();
    });
  };
  control("pause", "stop dispatching (devices already dispatched carry on)",
          [](auto& stub, auto& ctx, const auto& req, auto* out) { return stub.PauseRollout(&ctx, req, out); });
  control("resume", "continue a paused rollout (past a failed gate, if that paused it)",
          [](auto& stub, auto& ctx, const auto& req, auto* out) { return stub.ResumeRollout(&ctx, req, out); });
  control("abort", "stop a rollout; --revert sends the devices it moved back",
          [](auto& stub, auto& ctx, const auto& req, auto* out) { return stub.AbortRollout(&ctx, req, out); });
}

}  // namespace edge::edgectl
