// Report-ingest benchmark (not a ctest test): what storing one agent report costs the
// controller, on a real SQLite file (WAL, synchronous=FULL) holding a 10,000-device fleet, or
// with --postgres on a PostgreSQL database (it must be empty: the store is created in it).
//
//   per-report   RecordReport + RecordHealth, each its own transaction: how the controller
//                stored a report before group commit (two fsyncs per report).
//   batched      RecordReports in batches of --batch (the ReportIngest path: one transaction,
//                one fsync per batch, a savepoint per report, statements kept prepared).
//   raw          Reference in the same run: plain INSERTs of one row per report (the device
//                id and a health JSON of the same size) into a table with no index, in
//                transactions of the same batch size, on the same kind of file (on
//                PostgreSQL: a table in the same database, one prepared INSERT per row). The
//                least a database write of that much data costs here.
//
// Each mode runs in rounds, interleaved, and the best round counts (the machine is shared).
// Prints reports per second and the ratio batched/raw, and exits 1 if batched ingest is below
// --target reports per second (default 10,000).
//
//   edge-ingest-bench [--reports N] [--batch B] [--rounds R] [--target T] [--dir DIR] [--postgres URL]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <sys/utsname.h>

#include "common/sql/postgres_connection.h"
#include "common/sql/sqlite_connection.h"
#include "controller/store/health_json.h"
#include "controller/store/store.h"

using namespace edge::controller;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kDevices = 10000;
constexpr int64_t kT0 = 1'800'000'000;

#define CHECK_OK(expr)                                                              \
  do {                                                                              \
    const auto& _r = (expr);                                                            \
    if (!_r) {                                                                      \
      std::fprintf(stderr, "%s: %s\n", #expr, _r.error().message.c_str());          \
      std::exit(2);                                                                 \
    }                                                                               \
  } while (0)

std::string DeviceId(size_t i) {
  char id[32];
  std::snprintf(id, sizeof id, "gw-%05zu", i);
  return id;
}

// A report as an agent with one model sends it every few seconds (what edge-fleetsim sends).
AgentReport MakeReport(size_t device, int64_t now) {
  AgentReport r;
  r.device_id = DeviceId(device);
  r.now = now;
  r.models.push_back({"detector", "v2", 2, "committed", "", "", 0, 0, 2, 0});
  HealthRecord h;
  h.unix_time = now;
  h.received_at = now;
  h.cpu_percent = 3.5;
  h.rss_bytes = 24u << 20;
  h.disk_free_bytes = uint64_t{8} << 30;
  h.uptime_seconds = static_cast<uint64_t>(now - kT0);
  ModelHealthRecord m;
  m.model = "detector";
  m.version = "v2";
  m.state = "committed";
  m.inferences = 12345;
  m.latency_bucket_upper_us = {250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000};
  m.latency_counts = {0, 0, 12099, 246, 0, 0, 0, 0, 0, 0, 0};
  m.p50_us = 900;
  m.p99_us = 1800;
  m.last_selftest = "passed 1 case, max error 0.0";
  m.last_selftest_at = now;
  h.models.push_back(m);
  r.health = h;
  return r;
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

std::string CpuModel() {
  FILE* f = std::fopen("/proc/cpuinfo", "r");
  if (!f) return "unknown";
  char line[512];
  std::string model = "unknown";
  while (std::fgets(line, sizeof line, f)) {
    if (std::strncmp(line, "model name", 10) == 0) {
      const char* colon = std::strchr(line, ':');
      if (colon) model = std::string(colon + 2, std::strcspn(colon + 2, "\n"));
      break;
    }
  }
  std::fclose(f);
  return model;
}

}  // namespace

int main(int argc, char** argv) {
  size_t reports = 20000, batch = 512, rounds = 3;
  double target = 10000;
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("edge-ingest-bench-" + std::to_string(getpid()));
  std::string postgres;
  for (int i = 1; i < argc; ++i) {
    auto next = [&](const char* flag) -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag);
        std::exit(2);
      }
      return argv[++i];
    };
    if (!std::strcmp(argv[i], "--reports")) reports = std::strtoul(next("--reports"), nullptr, 10);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::strtoul(next("--batch"), nullptr, 10);
    else if (!std::strcmp(argv[i], "--rounds")) rounds = std::strtoul(next("--rounds"), nullptr, 10);
    else if (!std::strcmp(argv[i], "--target")) target = std::strtod(next("--target"), nullptr);
    else if (!std::strcmp(argv[i], "--dir")) dir = next("--dir");
    else if (!std::strcmp(argv[i], "--postgres")) postgres = next("--postgres");
    else {
      std::fprintf(stderr,
                   "usage: edge-ingest-bench [--reports N] [--batch B] [--rounds R] [--target T] [--dir DIR] "
                   "[--postgres URL]\n");
      return 2;
    }
  }
  if (reports == 0 || batch == 0 || rounds == 0) {
    std::fprintf(stderr, "--reports, --batch and --rounds must be at least 1\n");
    return 2;
  }
  std::filesystem::create_directories(dir);

  // The fleet.
  auto opened = postgres.empty() ? OpenSqliteStore((dir / "controller.db").string()) : OpenPostgresStore(postgres);
  CHECK_OK(opened);
  auto store = std::move(*opened);
  CHECK_OK(store->CreateSite("plant-1", "bench", kT0));
  for (size_t i = 0; i < kDevices; ++i) {
    const auto id = DeviceId(i);
    CHECK_OK(store->CreateToken({"hash-" + id, "plant-1", "bench", kT0, kT0 + 3600}, "bench"));
    DeviceRecord d;
    d.id = id;
    d.cert_serial = "serial-" + id;
    d.cert_not_after = kT0 + 86400;
    CHECK_OK(store->EnrollDevice("hash-" + id, d, kT0));
  }
  // The raw reference: one table without index, in its own file (SQLite) or beside the store.
  auto raw_db = postgres.empty() ? edge::Result<std::unique_ptr<edge::sql::Connection>>(
                                       edge::sql::SqliteConnection::Open(dir / "raw.db"))
                                 : edge::sql::OpenPostgres(postgres);
  CHECK_OK(raw_db);
  auto& raw = **raw_db;
  CHECK_OK(raw.Exec("CREATE TABLE IF NOT EXISTS raw_rows(device_id TEXT NOT NULL, at BIGINT NOT NULL, body TEXT NOT NULL)"));
  const std::string body = HealthToJson(*MakeReport(0, kT0).health);

  int64_t now = kT0;
  double best_single = 0, best_batched = 0, best_raw = 0;
  // The per-report path is slow (two fsyncs a report): a tenth of the reports is enough.
  const size_t single_reports = std::max<size_t>(reports / 10, 1);
  for (size_t round = 0; round < rounds; ++round) {
    {
      const auto t0 = Clock::now();
      for (size_t i = 0; i < single_reports; ++i) {
        auto r = MakeReport(i % kDevices, ++now);
        CHECK_OK(store->RecordReport(r.device_id, r.models, r.now));
        CHECK_OK(store->RecordHealth(r.device_id, *r.health));
      }
      best_single = std::max(best_single, static_cast<double>(single_reports) / Seconds(Clock::now() - t0));
    }
    {
      const auto t0 = Clock::now();
      std::vector<AgentReport> pending;
      for (size_t i = 0; i < reports; ++i) {
        pending.push_back(MakeReport(i % kDevices, ++now));
        if (pending.size() == batch || i + 1 == reports) {
          auto outcomes = store->RecordReports(pending);
          CHECK_OK(outcomes);
          for (const auto& o : *outcomes) CHECK_OK(o.status);
          pending.clear();
        }
      }
      best_batched = std::max(best_batched, static_cast<double>(reports) / Seconds(Clock::now() - t0));
    }
    {
      const auto t0 = Clock::now();
      for (size_t i = 0; i < reports;) {
        CHECK_OK(raw.Write([&]() -> edge::Status {
          auto st = raw.Prepare("INSERT INTO raw_rows(device_id, at, body) VALUES (?, ?, ?)");
          if (!st) return edge::Fail(st.error());
          for (size_t k = 0; k < batch && i < reports; ++k, ++i) {
            st->Reset();
            st->Bind(1, DeviceId(i % kDevices)).Bind(2, ++now).Bind(3, body);
            if (auto s = st->Run(); !s) return s;
          }
          return edge::Ok();
        }));
      }
      best_raw = std::max(best_raw, static_cast<double>(reports) / Seconds(Clock::now() - t0));
    }
  }
  std::filesystem::remove_all(dir);

  struct utsname u {};
  uname(&u);
  std::printf("report ingest, %zu devices, %zu reports per round, batch %zu, best of %zu rounds, on %s\n", kDevices,
              reports, batch, rounds, raw.Describe().c_str());
  std::printf("cpu: %s (%s)\n", CpuModel().c_str(), u.machine);
  std::printf("%-12s %14s\n", "mode", "reports/s");
  std::printf("%-12s %14.0f\n", "per-report", best_single);
  std::printf("%-12s %14.0f\n", "batched", best_batched);
  std::printf("%-12s %14.0f\n", "raw", best_raw);
  std::printf("batched / per-report: %.1fx; batched / raw inserts: %.2f\n", best_batched / best_single,
              best_batched / best_raw);
  if (best_batched < target) {
    std::printf("FAIL: batched ingest %.0f reports/s is below the target %.0f\n", best_batched, target);
    return 1;
  }
  std::printf("ok: batched ingest >= %.0f reports/s\n", target);
  return 0;
}
