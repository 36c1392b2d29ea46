// Rollout benchmark (not a ctest test): a 10,000-device fleet over 50 sites.
//
//   planner   Plan() driven through a whole staged rollout (canary 1%, waves 10%, 50%, 100%,
//             max parallel and a site budget), devices committing as dispatched, on a fake
//             clock. Reports devices decided per second, and the planner's cost per device
//             against an in-run reference: the least a decision needs (find the device's
//             report in a hash map by id, compare its version and state).
//   driver    The controller's RolloutDriver::Tick() on a real SQLite store holding the fleet:
//             the tick that sees a wave's last report and dispatches the next wave (load the
//             live rollouts and the fleet, plan, persist the step with every new desired
//             version in one transaction). Reference in the same run: reading the same device
//             and report rows with one plain SELECT.
//
// Prints a table, and exits 1 if a target is missed:
//   - one Plan() over 10,000 devices takes at most 1/10 of the driver's 1 s tick;
//   - a wave-advancing Tick() takes at most 1/2 of the tick period.
// The ratios to the references are reported for comparison across machines.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "common/core/clock.h"
#include "common/core/log.h"
#include "common/sqlite/db.h"
#include "controller/api/context.h"
#include "controller/api/rollout_driver.h"
#include "controller/rollout/planner.h"
#include "controller/store/store.h"

namespace ro = edge::controller::rollout;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kDevices = 10000;
constexpr size_t kSites = 50;
constexpr int64_t kT0 = 1'800'000'000;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

std::string DeviceId(size_t i) {
  char id[32];
  std::snprintf(id, sizeof id, "gw-%05zu", i);
  return id;
}
std::string SiteName(size_t i) { return "site-" + std::to_string(i % kSites); }

ro::Strategy Staged() {
  ro::Strategy s;
  s.canary = ro::Amount::Percent(1);
  s.waves = {ro::Amount::Percent(10), ro::Amount::Percent(50), ro::Amount::Percent(100)};
  s.max_parallel = 2000;
  s.site_budget = ro::Amount::Percent(50);
  s.soak_seconds = 0;
  s.health_gates = false;
  return s;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct PlannerResult {
  size_t plans = 0;
  double plan_ms_median = 0, plan_ms_max = 0, per_device_ns = 0, reference_ns = 0;
};

PlannerResult BenchPlanner() {
  ro::Rollout r;
  r.id = 1;
  r.model = "detector";
  r.version = "2.0";
  r.security_version = 1;
  r.strategy = Staged();
  r.created_at = kT0;
  ro::Inputs in;
  in.now = kT0;
  in.security_versions = {{"1.0", 1}, {"2.0", 1}};
  for (size_t i = 0; i < kDevices; ++i) {
    ro::Observed o;
    o.id = DeviceId(i);
    o.site = SiteName(i);
    o.online = true;
    o.active_version = "1.0";
    o.state = "committed";
    o.floor = 1;
    in.devices.push_back(o);
  }
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < in.devices.size(); ++i) index[in.devices[i].id] = i;

  std::vector<double> times;
  while (r.state == ro::State::kRunning && times.size() < 1000) {
    const auto t0 = Clock::now();
    ro::Step step = ro::Plan(r, in);
    times.push_back(Ms(Clock::now() - t0));
    r = std::move(step.rollout);
    for (auto& row : r.devices) row.dirty = false;
    // The agents install and commit what they were sent, before the next step.
    for (const auto& d : step.dispatches) {
      auto& o = in.devices[index.at(d.device)];
      o.active_version = d.version;
      o.target_version = d.version;
    }
    in.now += 1;
  }
  if (r.state != ro::State::kCompleted) {
    std::fprintf(stderr, "planner: the rollout did not complete (%s)\n", std::string(ro::Name(r.state)).c_str());
    std::exit(2);
  }

  // Reference: the least work a per-device decision needs, over the same devices and ids.
  std::vector<double> ref;
  size_t hits = 0;
  for (int round = 0; round < 20; ++round) {
    const auto t0 = Clock::now();
    for (const auto& row : r.devices) {
      const auto& o = in.devices[index.find(row.id)->second];
      hits += (o.active_version == r.version && o.state == "committed") ? 1 : 0;
    }
    ref.push_back(Ms(Clock::now() - t0));
  }
  if (hits == 0) std::exit(2);  // keeps the loop from being optimised away

  PlannerResult out;
  out.plans = times.size();
  out.plan_ms_median = Median(times);
  out.plan_ms_max = *std::max_element(times.begin(), times.end());
  out.per_device_ns = out.plan_ms_median * 1e6 / kDevices;
  out.reference_ns = Median(ref) * 1e6 / kDevices;
  return out;
}

struct DriverResult {
  std::vector<double> advance_ms;  // ticks that saw a wave's last report and dispatched the next
  double idle_ms = 0;              // a tick with nothing new
  double reference_ms = 0;
  double setup_s = 0;
};

#define CHECK_OK(expr)                                                                 \
  do {                                                                                 \
    auto&& _r = (expr);                                                                 \
    if (!_r) {                                                                         \
      std::fprintf(stderr, "%s: %s\n", #expr, _r.error().message.c_str());            \
      std::exit(2);                                                                    \
    }                                                                                  \
  } while (0)

DriverResult BenchDriver(const std::filesystem::path& dir) {
  using namespace edge::controller;
  DriverResult out;
  const auto db_path = (dir / "controller.db").string();
  const auto setup0 = Clock::now();
  auto opened = OpenSqliteStore(db_path);
  CHECK_OK(opened);
  auto store = std::move(*opened);
  for (size_t s = 0; s < kSites; ++s) CHECK_OK(store->CreateSite(SiteName(s), "bench", kT0));
  for (const char* v : {"1.0", "2.0"}) {
    VersionRecord rec;
    rec.model = "detector";
    rec.version = v;
    rec.security_version = 1;
    rec.manifest_digest = std::string(63, '0') + v[0];
    rec.envelope = "envelope";
    rec.total_bytes = 100;
    rec.signed_by = "release-1";
    rec.pushed_by = "bench";
    rec.blobs = {{std::string("digest-") + v, "model", 100}};
    CHECK_OK(store->AddVersion(rec, kT0));
  }
  for (size_t i = 0; i < kDevices; ++i) {
    const std::string id = DeviceId(i);
    CHECK_OK(store->CreateToken({"hash-" + id, SiteName(i), "bench", kT0, kT0 + 3600}, "bench"));
    DeviceRecord d;
    d.id = id;
    d.cert_serial = "serial-" + id;
    d.cert_not_after = kT0 + 86400;
    CHECK_OK(store->EnrollDevice("hash-" + id, d, kT0));
    ReportedModelRecord m;
    m.model = "detector";
    m.version = "1.0";
    m.security_version = 1;
    m.state = "committed";
    m.security_floor = 1;
    CHECK_OK(store->RecordReport(id, {m}, kT0));
  }
  out.setup_s = std::chrono::duration<double>(Clock::now() - setup0).count();

  boost::asio::io_context io;
  edge::FakeClock clock(kT0 + 10);
  ControllerConfig config;
  ControllerContext ctx(config, io, std::move(store), clock);
  RolloutDriver driver(ctx);
  ctx.rollouts = &driver;

  ro::Rollout r;
  r.model = "detector";
  r.version = "2.0";
  r.security_version = 1;
  r.strategy = Staged();
  r.created_by = "bench";
  for (size_t s = 0; s < kSites; ++s) r.target.sites.push_back(SiteName(s));
  auto created = driver.Create(r, false);
  CHECK_OK(created);
  const int64_t id = created->id;

  // Devices commit what they were sent (reports stored outside the timed ticks); each tick
  // after a batch of reports is timed. A tick that moves the rollout to a new wave is the
  // "last report to next dispatch" time.
  for (int step = 0; step < 200; ++step) {
    auto now = ctx.store->GetRollout(id);
    CHECK_OK(now);
    if (now->state != ro::State::kRunning) break;
    for (const auto& row : now->devices) {
      if (row.state != ro::DeviceState::kDispatched) continue;
      ReportedModelRecord m;
      m.model = "detector";
      m.version = "2.0";
      m.security_version = 1;
      m.state = "committed";
      m.target_version = "2.0";
      m.security_floor = 1;
      CHECK_OK(ctx.store->RecordReport(row.id, {m}, clock.NowUnix()));
    }
    clock.Advance(1);
    const uint32_t wave = now->wave;
    const auto t0 = Clock::now();
    CHECK_OK(driver.Tick());
    const double ms = Ms(Clock::now() - t0);
    auto after = ctx.store->GetRollout(id);
    CHECK_OK(after);
    if (after->wave != wave) out.advance_ms.push_back(ms);
  }
  auto final_state = ctx.store->GetRollout(id);
  CHECK_OK(final_state);
  if (final_state->state != ro::State::kCompleted) {
    std::fprintf(stderr, "driver: the rollout did not complete (%s)\n", std::string(ro::Name(final_state->state)).c_str());
    std::exit(2);
  }
  {
    std::vector<double> idle;
    for (int i = 0; i < 5; ++i) {
      clock.Advance(1);
      const auto t0 = Clock::now();
      CHECK_OK(driver.Tick());
      idle.push_back(Ms(Clock::now() - t0));
    }
    out.idle_ms = Median(idle);
  }
  // Reference: the same device and report rows, one plain SELECT.
  auto db = edge::sqlite::Db::Open(db_path);
  CHECK_OK(db);
  std::vector<double> ref;
  for (int i = 0; i < 5; ++i) {
    const auto t0 = Clock::now();
    auto st = db->Prepare(
        "SELECT d.id, d.site, d.facts_json, r.version, r.state, r.target_version, r.security_floor "
        "FROM devices d LEFT JOIN reported_models r ON r.device_id = d.id AND r.model = 'detector'");
    CHECK_OK(st);
    size_t rows = 0;
    for (;;) {
      auto more = st->Step();
      CHECK_OK(more);
      if (!*more) break;
      rows += st->Text(0).size() > 0 ? 1 : 0;
    }
    ref.push_back(Ms(Clock::now() - t0));
    if (rows != kDevices) std::exit(2);
  }
  out.reference_ms = Median(ref);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir =
      argc > 1 ? std::filesystem::path(argv[1]) : std::filesystem::temp_directory_path() / "edge-rollout-bench";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  edge::log::Init("rollout-bench", edge::log::Level::kWarn);

  const auto p = BenchPlanner();
  std::printf("## planner: %zu devices, %zu sites, canary 1%%, waves 10%%,50%%,100%%\n", kDevices, kSites);
  std::printf("plan steps over the whole rollout   %zu\n", p.plans);
  std::printf("Plan() over 10k devices (median)    %.2f ms (max %.2f ms)\n", p.plan_ms_median, p.plan_ms_max);
  std::printf("devices decided per second          %.0f\n", kDevices / (p.plan_ms_median / 1000.0));
  std::printf("per device: planner / reference     %.0f ns / %.1f ns = %.1fx\n", p.per_device_ns, p.reference_ns,
              p.per_device_ns / p.reference_ns);

  const auto d = BenchDriver(dir);
  std::printf("\n## driver: RolloutDriver::Tick() on SQLite (%zu devices; fleet set up in %.1f s)\n", kDevices, d.setup_s);
  std::printf("last report -> next wave dispatched  ");
  for (double ms : d.advance_ms) std::printf("%.1f ms  ", ms);
  const double worst = d.advance_ms.empty() ? 0 : *std::max_element(d.advance_ms.begin(), d.advance_ms.end());
  std::printf("(worst %.1f ms)\n", worst);
  std::printf("idle tick (nothing new)             %.1f ms\n", d.idle_ms);
  std::printf("reference: one SELECT of the rows   %.1f ms\n", d.reference_ms);
  std::printf("worst advancing tick / reference    %.1fx\n", worst / d.reference_ms);

  bool ok = true;
  if (p.plan_ms_max > 100) {
    std::printf("MISSED: Plan() over 10k devices took %.1f ms (target <= 100 ms, 1/10 of the 1 s tick)\n", p.plan_ms_max);
    ok = false;
  }
  if (worst > 500) {
    std::printf("MISSED: a wave-advancing tick took %.1f ms (target <= 500 ms, 1/2 of the tick)\n", worst);
    ok = false;
  }
  std::printf("\n%s\n", ok ? "targets met" : "targets missed");
  std::filesystem::remove_all(dir);
  return ok ? 0 : 1;
}
