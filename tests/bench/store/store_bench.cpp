// Store benchmark (not a ctest test): what one store call costs on SQLite and on PostgreSQL, the
// same calls through the same store (controller/store/sql_store.cpp) on both.
//
//   reads        GetDevice, DeviceModels, HasBlob, GetOperator (the calls agents' and operators'
//                requests make), FleetForModel (what a rollout tick reads)
//   writes       RecordHello, RecordReport (each its own transaction), and RecordReports in
//                batches of 512 (group commit: one transaction, a savepoint per report)
//   reference    one SELECT 1 on the same connection: a round trip to the database and back,
//                the least any call costs there
//
// Prints microseconds per call (reports per second for the batches) for each database asked
// for: SQLite in --dir (WAL, synchronous=FULL, as the controller runs it) always, PostgreSQL
// when --postgres names a database (it must be empty: the store is created in it).
//
//   edge-store-bench [--dir DIR] [--postgres URL] [--devices N]
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/sql/postgres_connection.h"
#include "common/sql/sqlite_connection.h"
#include "controller/store/store.h"

using namespace edge::controller;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int64_t kT0 = 1'800'000'000;

double MicrosPer(int n, const std::function<void(int)>& call) {
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) call(i);
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count() / n;
}

std::string Device(int i) { return "gw-" + std::to_string(i); }

bool Fill(Store& store, int devices) {
  if (!store.CreateSite("plant", "op", kT0)) return false;
  VersionRecord v;
  v.model = "detector";
  v.version = "1.0";
  v.manifest_digest = "m";
  v.envelope = "signed envelope";
  v.pushed_by = "op";
  v.blobs = {{"digest-1", "model", 1000}};
  if (!store.AddVersion(v, kT0)) return false;
  for (int i = 0; i < devices; ++i) {
    if (!store.CreateToken({"token-" + std::to_string(i), "plant", "op", kT0, kT0 + 3600}, "op")) return false;
    DeviceRecord d;
    d.id = Device(i);
    d.cert_serial = "serial-" + std::to_string(i);
    if (!store.EnrollDevice("token-" + std::to_string(i), d, kT0)) return false;
    if (!store.RecordReport(d.id, {{"detector", "1.0", 1, "committed", "", "", 0, 0, 1, kT0}}, kT0)) return false;
  }
  return true;
}

HealthRecord Health(int64_t t) {
  HealthRecord h;
  h.unix_time = t;
  h.received_at = t;
  h.cpu_percent = 3.5;
  ModelHealthRecord m;
  m.model = "detector";
  m.version = "1.0";
  m.state = "committed";
  m.inferences = 1000;
  m.latency_bucket_upper_us = {100, 1000, 10000};
  m.latency_counts = {900, 90, 10};
  h.models = {m};
  return h;
}

void Run(const char* name, Store& store, edge::sql::Connection& reference, int devices) {
  const int n = 2000;
  std::printf("\n## %s (%d devices)\n", name, devices);
  std::printf("%-34s %10s\n", "call", "us/call");
  auto row = [](const char* call, double us) { std::printf("%-34s %10.1f\n", call, us); };
  row("reference: SELECT 1", MicrosPer(n, [&](int) {
        auto st = reference.Prepare("SELECT 1");
        if (st) (void)st->Step();
      }));
  row("GetDevice", MicrosPer(n, [&](int i) { (void)store.GetDevice(Device(i % devices)); }));
  row("DeviceModels", MicrosPer(n, [&](int i) { (void)store.DeviceModels(Device(i % devices)); }));
  row("HasBlob", MicrosPer(n, [&](int) { (void)store.HasBlob("digest-1"); }));
  row("GetOperator", MicrosPer(n, [&](int) { (void)store.GetOperator("nobody"); }));
  row("FleetForModel (every device)", MicrosPer(20, [&](int) { (void)store.FleetForModel("detector"); }));
  row("RecordHello", MicrosPer(500, [&](int i) { (void)store.RecordHello(Device(i % devices), "1.0", kT0 + i); }));
  row("RecordReport (own transaction)", MicrosPer(500, [&](int i) {
        (void)store.RecordReport(Device(i % devices), {{"detector", "1.0", 1, "committed", "", "", 0, 0, 1, kT0 + i}},
                                 kT0 + i);
      }));
  constexpr int kBatch = 512;
  constexpr int kBatches = 8;
  const double us = MicrosPer(kBatches, [&](int b) {
    std::vector<AgentReport> batch;
    for (int i = 0; i < kBatch; ++i) {
      AgentReport r;
      r.device_id = Device((b * kBatch + i) % devices);
      r.now = kT0 + b;
      r.models = {{"detector", "1.0", 1, "committed", "", "", 0, 0, 1, kT0 + b}};
      r.health = Health(kT0 + b);
      batch.push_back(std::move(r));
    }
    if (auto out = store.RecordReports(batch); !out) std::printf("RecordReports: %s\n", out.error().message.c_str());
  });
  std::printf("%-34s %10.0f reports/s\n", "RecordReports (batches of 512)", kBatch / (us / 1e6));
}

}  // namespace

int main(int argc, char** argv) {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / "edge-store-bench";
  std::string postgres;
  int devices = 1000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else if (!std::strcmp(argv[i], "--postgres")) postgres = argv[i + 1];
    else if (!std::strcmp(argv[i], "--devices")) devices = std::atoi(argv[i + 1]);
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto path = (dir / "controller.db").string();
  auto sqlite = OpenSqliteStore(path);
  auto sqlite_reference = edge::sql::SqliteConnection::Open(path);
  if (!sqlite || !sqlite_reference || !Fill(**sqlite, devices)) {
    std::fprintf(stderr, "edge-store-bench: cannot set up the SQLite store in %s\n", dir.c_str());
    return 1;
  }
  Run("SQLite (WAL, synchronous=FULL)", **sqlite, **sqlite_reference, devices);
  if (!postgres.empty()) {
    auto store = OpenPostgresStore(postgres);
    auto reference = edge::sql::OpenPostgres(postgres);
    if (!store || !reference || !Fill(**store, devices)) {
      std::fprintf(stderr, "edge-store-bench: cannot set up the PostgreSQL store (an empty database): %s\n",
                   !store ? store.error().message.c_str() : !reference ? reference.error().message.c_str() : "");
      return 1;
    }
    Run((*reference)->Describe().c_str(), **store, **reference, devices);
  }
  std::filesystem::remove_all(dir);
  return 0;
}
