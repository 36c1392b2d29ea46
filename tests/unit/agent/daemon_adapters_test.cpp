// The agent's adapters on real files and real threads, with a fake blob source: the update
// steps' retries, cancellation and restore escalation; the identity's crash-safe renewal; the
// inbox of local installs.
#include <catch2/catch.hpp>

#include <condition_variable>
#include <mutex>

#include "agent/daemon/identity.h"
#include "agent/daemon/inbox.h"
#include "agent/daemon/status_report.h"
#include "agent/daemon/update_steps.h"
#include "common/core/fs.h"
#include "common/crypto/sha256.h"
#include "common/crypto/x509.h"
#include "core/temp_dir.h"

using namespace edge;
using namespace edge::agent;
using edge::testing::TempDir;
namespace stdfs = std::filesystem;

namespace {

// What the steps reported, waited for with a deadline (the steps run on worker threads).
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::pair<uint64_t, UpdateEvent>> done;
  std::vector<std::string> details;  // of each done
  std::vector<std::string> trouble;

  StepCallbacks Callbacks() {
    StepCallbacks cb;
    cb.done = [this](const std::string&, uint64_t epoch, UpdateEvent event, std::string detail) {
      std::lock_guard lock(mu);
      done.emplace_back(epoch, event);
      details.push_back(std::move(detail));
      cv.notify_all();
    };
    cb.progress = [](const std::string&, uint64_t, uint64_t) {};
    cb.trouble = [this](const std::string&, uint64_t, std::string detail) {
      std::lock_guard lock(mu);
      trouble.push_back(std::move(detail));
      cv.notify_all();
    };
    cb.selftest = [](const std::string&, std::string) {};
    return cb;
  }
  bool WaitFor(const std::function<bool()>& pred) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), pred);
  }
};

struct StepsRig {
  TempDir dir;
  AgentConfig config;
  ModelRepo repo{dir.path()};
  serve::Registry registry;
  ServingSet serving{repo, registry};
  Recorder rec;
  std::string content = "the model's bytes";
  std::atomic<int> failures{0};  // fetches that fail with fail_code before one succeeds
  ErrorCode fail_code = ErrorCode::kUnavailable;
  std::atomic<int> fetches{0};
  std::unique_ptr<UpdateSteps> steps;

  StepsRig() {
    config.state_dir = dir.path();
    config.device_name = "gw-1";
    config.min_free_bytes = 0;
    config.backoff_initial_ms = 5;
    config.backoff_max_ms = 20;
    REQUIRE(repo.Prepare());
    auto fetch = [this](const std::string&, uint64_t, const stdfs::path& partial, uint64_t,
                        const std::function<void(uint64_t)>&, const std::atomic<bool>&) -> Status {
      ++fetches;
      if (failures > 0) {
        --failures;
        return Fail(fail_code, fail_code == ErrorCode::kUnavailable ? "controller unreachable" : "refused");
      }
      return fs::WriteFileAtomic(partial, content);
    };
    steps = std::make_unique<UpdateSteps>(config, repo, serving, fetch, rec.Callbacks());
  }

  Command DownloadCommand(uint64_t epoch) const {
    bundle::Manifest m;
    m.name = "kws";
    m.version = "v2";
    m.security_version = 2;
    m.created = "2026-01-01T00:00:00Z";
    m.blobs.push_back({"model", crypto::Sha256Hex(content), content.size(), "application/onnx"});
    Command c;
    c.model = "kws";
    c.epoch = epoch;
    c.action = UpdateAction::kDownload;
    c.record.model = "kws";
    c.record.state = UpdateState::kDownloading;
    c.record.target_version = "v2";
    c.record.target_envelope = bundle::SerializeEnvelope({"application/vnd.edgefleet.manifest+json",
                                                          bundle::SerializeManifest(m), {}});
    return c;
  }
};

}  // namespace

TEST_CASE("Steps: a download retries an unreachable controller with backoff, then reports downloaded",
          "[daemon]") {
  StepsRig rig;
  rig.failures = 3;
  auto c = rig.DownloadCommand(7);
  rig.steps->Run(c, {});
  REQUIRE(rig.rec.WaitFor([&] { return !rig.rec.done.empty(); }));
  CHECK(rig.rec.done[0] == std::make_pair(uint64_t{7}, UpdateEvent::kDownloaded));
  CHECK(rig.fetches == 4);
  CHECK(rig.rec.trouble.size() == 3);
  CHECK(fs::ReadFile(rig.repo.BlobPath(crypto::Sha256Hex(rig.content)), 1024).value() == rig.content);
}

TEST_CASE("Steps: a busy controller's RESOURCE_EXHAUSTED is retried, a permission error is not", "[daemon]") {
  {
    StepsRig rig;  // the controller's work queue full: "retry with backoff"
    rig.fail_code = ErrorCode::kResourceExhausted;
    rig.failures = 2;
    rig.steps->Run(rig.DownloadCommand(5), {});
    REQUIRE(rig.rec.WaitFor([&] { return !rig.rec.done.empty(); }));
    CHECK(rig.rec.done[0] == std::make_pair(uint64_t{5}, UpdateEvent::kDownloaded));
    CHECK(rig.fetches == 3);
    CHECK(rig.rec.trouble.size() == 2);
  }
  StepsRig rig;
  rig.fail_code = ErrorCode::kPermissionDenied;
  rig.failures = 1;
  rig.steps->Run(rig.DownloadCommand(6), {});
  REQUIRE(rig.rec.WaitFor([&] { return !rig.rec.done.empty(); }));
  CHECK(rig.rec.done[0] == std::make_pair(uint64_t{6}, UpdateEvent::kFailed));
  CHECK(rig.fetches == 1);
}

TEST_CASE("Steps: a download that would leave less than the configured free space fails before fetching",
          "[daemon]") {
  StepsRig rig;
  rig.config.min_free_bytes = int64_t{1} << 60;  // more than any disk has
  rig.steps->Run(rig.DownloadCommand(4), {});
  REQUIRE(rig.rec.WaitFor([&] { return !rig.rec.done.empty(); }));
  CHECK(rig.rec.done[0] == std::make_pair(uint64_t{4}, UpdateEvent::kFailed));
  CHECK(rig.rec.details[0].find("v2: not enough disk space: need 17 bytes plus a margin of") != std::string::npos);
  CHECK(rig.fetches == 0);
}

TEST_CASE("Steps: a newer command cancels a download stuck on an unreachable controller", "[daemon]") {
  StepsRig rig;
  rig.failures = 1'000'000;
  rig.steps->Run(rig.DownloadCommand(1), {});
  REQUIRE(rig.rec.WaitFor([&] { return rig.rec.trouble.size() >= 2; }));
  // The target changed: the model's next command (here: failed's restore) runs at once, and
  // the abandoned download never reports.
  Command restore;
  restore.model = "kws";
  restore.epoch = 2;
  restore.action = UpdateAction::kRollBack;
  rig.steps->Run(restore, {});
  REQUIRE(rig.rec.WaitFor([&] { return !rig.rec.done.empty(); }));
  CHECK(rig.rec.done[0] == std::make_pair(uint64_t{2}, UpdateEvent::kRolledBack));
  rig.steps->Stop();
  CHECK(rig.rec.done.size() == 1);
}

TEST_CASE("Steps: a rollback whose restore fails is retried and never reported done until it works",
          "[daemon]") {
  StepsRig rig;
  // v1 is installed and active; `current` cannot be pointed back at it: a directory stands
  // where the symlink goes.
  stdfs::create_directories(rig.dir / "models" / "kws" / "v1");
  stdfs::copy_file(std::string(EDGE_ZOO_DIR) + "/mlp_anomaly.qdq.onnx", rig.dir / "models" / "kws" / "v1" / "model");
  const auto obstacle = rig.dir / "models" / "kws" / "current";
  stdfs::create_directories(obstacle / "in-the-way");
  Command c;
  c.model = "kws";
  c.epoch = 3;
  c.action = UpdateAction::kRollBack;
  c.record.model = "kws";
  c.record.state = UpdateState::kRollingBack;
  c.record.active_version = "v1";
  c.record.target_version = "v2";
  rig.steps->Run(c, {});
  REQUIRE(rig.rec.WaitFor([&] { return rig.rec.trouble.size() >= 3; }));
  {
    std::lock_guard lock(rig.rec.mu);
    CHECK(rig.rec.done.empty());
    CHECK(rig.rec.trouble[0].find("cannot restore v1 (attempt 1)") != std::string::npos);
  }
  stdfs::remove_all(obstacle);
  REQUIRE(rig.rec.WaitFor([&] { return !rig.rec.done.empty(); }));
  CHECK(rig.rec.done[0] == std::make_pair(uint64_t{3}, UpdateEvent::kRolledBack));
  CHECK(rig.repo.CurrentVersion("kws") == std::optional<std::string>("v1"));
  auto served = rig.registry.Snapshot("kws");
  REQUIRE(served);
  CHECK(served->version == "v1");
}

namespace {

struct Pki {
  crypto::PrivateKey ca_key = crypto::PrivateKey::GenerateP256().value();
  std::string ca_pem;
  Pki() {
    crypto::CertSpec spec;
    spec.common_name = "test CA";
    spec.is_ca = true;
    ca_pem = crypto::CreateSelfSignedCa(ca_key, spec).value();
  }
  std::string Issue(const crypto::PrivateKey& key, const std::string& cn) {
    crypto::CertSpec spec;
    spec.common_name = cn;
    spec.client_auth = true;
    return crypto::IssueCertificate({ca_pem, &ca_key}, key, spec).value();
  }
};

}  // namespace

TEST_CASE("Identity: a renewal a crash interrupted is finished or undone at the next start", "[daemon]") {
  TempDir dir;
  Pki pki;
  auto old_key = crypto::PrivateKey::GenerateP256().value();
  auto new_key = crypto::PrivateKey::GenerateP256().value();
  const auto id = dir / "identity";
  stdfs::create_directories(id);
  REQUIRE(fs::WriteFileAtomic(id / "key.pem", old_key.ToPem().value(), 0600));

  SECTION("crashed after the new key was written, before the certificate: the old pair stays") {
    REQUIRE(fs::WriteFileAtomic(id / "cert.pem", pki.Issue(old_key, "gw-1"), 0600));
    REQUIRE(fs::WriteFileAtomic(id / "key.pem.next", new_key.ToPem().value(), 0600));
    REQUIRE(IdentityManager::RecoverRenewal(id));
    CHECK_FALSE(stdfs::exists(id / "key.pem.next"));
    CHECK(fs::ReadFile(id / "key.pem", 4096).value() == old_key.ToPem().value());
  }
  SECTION("crashed after the certificate, before the key was promoted: the new pair is completed") {
    REQUIRE(fs::WriteFileAtomic(id / "cert.pem", pki.Issue(new_key, "gw-1"), 0600));
    REQUIRE(fs::WriteFileAtomic(id / "key.pem.next", new_key.ToPem().value(), 0600));
    REQUIRE(IdentityManager::RecoverRenewal(id));
    CHECK_FALSE(stdfs::exists(id / "key.pem.next"));
    CHECK(fs::ReadFile(id / "key.pem", 4096).value() == new_key.ToPem().value());
  }
  SECTION("a torn key.pem.next is discarded") {
    REQUIRE(fs::WriteFileAtomic(id / "cert.pem", pki.Issue(old_key, "gw-1"), 0600));
    REQUIRE(fs::WriteFileAtomic(id / "key.pem.next", "-----BEGIN PRIV", 0600));
    REQUIRE(IdentityManager::RecoverRenewal(id));
    CHECK_FALSE(stdfs::exists(id / "key.pem.next"));
    CHECK(fs::ReadFile(id / "key.pem", 4096).value() == old_key.ToPem().value());
  }
  // Whichever way, the certificate and the key on disk belong together.
  auto cert = fs::ReadFile(id / "cert.pem", 8192).value();
  auto key = crypto::PrivateKey::FromPem(fs::ReadFile(id / "key.pem", 4096).value()).value();
  CHECK(crypto::CertificateMatchesKey(cert, key).value());
}

TEST_CASE("Identity: a renewed certificate for another name or another key is refused", "[daemon]") {
  TempDir dir;
  Pki pki;
  AgentConfig config;
  config.state_dir = dir.path();
  config.device_name = "gw-1";
  FakeClock clock(1'800'000'000);
  IdentityManager identity(config, clock);
  stdfs::create_directories(dir / "identity");
  auto key = crypto::PrivateKey::GenerateP256().value();
  auto other = crypto::PrivateKey::GenerateP256().value();
  auto s = identity.InstallRenewed(pki.Issue(key, "gw-2"), key.ToPem().value());
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("'gw-2'") != std::string::npos);
  s = identity.InstallRenewed(pki.Issue(other, "gw-1"), key.ToPem().value());
  REQUIRE_FALSE(s);
  CHECK(s.error().message.find("does not match") != std::string::npos);
  CHECK_FALSE(stdfs::exists(dir / "identity" / "cert.pem"));
  REQUIRE(identity.InstallRenewed(pki.Issue(key, "gw-1"), key.ToPem().value()));
  CHECK(stdfs::exists(dir / "identity" / "cert.pem"));
  CHECK_FALSE(stdfs::exists(dir / "identity" / "key.pem.next"));
}

TEST_CASE("Inbox: envelopes become local offers in name order and unreadable ones are removed", "[daemon]") {
  TempDir dir;
  bundle::Manifest m;
  m.name = "kws";
  m.version = "v9";
  m.created = "2026-01-01T00:00:00Z";
  m.blobs.push_back({"model", std::string(64, 'a'), 1, "application/onnx"});
  const auto envelope = bundle::SerializeEnvelope({"application/vnd.edgefleet.manifest+json", bundle::SerializeManifest(m), {}});
  REQUIRE(fs::WriteFileAtomic(dir / "b.envelope", envelope));
  REQUIRE(fs::WriteFileAtomic(dir / "a.envelope", "not json"));
  REQUIRE(fs::WriteFileAtomic(dir / "c.txt", "ignored"));
  auto offers = TakeInbox(dir.path(), 12);
  REQUIRE(offers.size() == 1);
  CHECK(offers[0].model == "kws");
  CHECK(offers[0].version == "v9");
  CHECK(offers[0].local);
  CHECK(offers[0].generation == 12);
  CHECK(offers[0].envelope == envelope);
  CHECK_FALSE(stdfs::exists(dir / "a.envelope"));
  CHECK_FALSE(stdfs::exists(dir / "b.envelope"));
  CHECK(stdfs::exists(dir / "c.txt"));
}

TEST_CASE("Status report: a pure function of the records and what was measured", "[daemon]") {
  std::map<std::string, ModelRecord> records;
  ModelRecord kws;
  kws.model = "kws";
  kws.active_version = "v1";
  kws.active_security_version = 3;
  kws.floor = 3;
  kws.state = UpdateState::kProbation;
  kws.target_version = "v2";
  kws.detail = "";
  kws.bytes_done = 10;
  kws.bytes_total = 10;
  records["kws"] = kws;
  ModelRecord idle;
  idle.model = "vision";
  records["vision"] = idle;

  auto report = ModelsReport(records);
  REQUIRE(report.models_size() == 2);
  CHECK(report.models(0).model() == "kws");
  CHECK(report.models(0).version() == "v1");
  CHECK(report.models(0).state() == "probation");
  CHECK(report.models(0).target_version() == "v2");
  CHECK(report.models(0).security_floor() == 3);
  CHECK(report.models(1).state() == "idle");
  CHECK_FALSE(report.has_health());

  HealthFacts facts;
  facts.now = 1'800'000'000;
  facts.cpu_percent = 12.5;
  facts.rss_bytes = 1 << 20;
  facts.uptime_seconds = 60;
  serve::Stats stats;
  stats.version = "v2";  // during probation the numbers are the new version's
  stats.inferences = 100;
  stats.errors = 2;
  stats.p99_us = 850;
  stats.latency_buckets[3] = 100;
  facts.serving["kws"] = stats;
  facts.selftests["kws"] = {"v2 passed 3 case(s) at activation, max error 0", 1'799'999'990};
  AddHealth(report, records, facts);
  const auto& h = report.health();
  CHECK(h.unix_time() == facts.now);
  CHECK(h.cpu_percent() == 12.5);
  CHECK(h.disk_free_bytes() == 0);  // not measured: not made up
  REQUIRE(h.models_size() == 2);
  CHECK(h.models(0).version() == "v2");
  CHECK(h.models(0).inferences() == 100);
  CHECK(h.models(0).errors() == 2);
  CHECK(h.models(0).p99_us() == 850);
  CHECK(h.models(0).latency().counts_size() == static_cast<int>(stats.latency_buckets.size()));
  CHECK(h.models(0).latency().bucket_upper_us_size() == static_cast<int>(stats.latency_buckets.size()) - 1);
  CHECK(h.models(0).last_selftest_at() == 1'799'999'990);
  CHECK(h.models(1).version().empty());  // nothing served: no numbers
  CHECK(h.models(1).inferences() == 0);
}

TEST_CASE("Serving set: collection never removes a blob an update in flight pins", "[daemon]") {
  TempDir dir;
  ModelRepo repo(dir.path());
  REQUIRE(repo.Prepare());
  serve::Registry registry;
  ServingSet serving(repo, registry);
  const std::string digest = crypto::Sha256Hex("shared weights");
  const auto blob = repo.BlobPath(digest);
  REQUIRE(fs::WriteFileAtomic(blob, "shared weights"));
  // Old and used by no installed version: what collection removes.
  stdfs::last_write_time(blob, stdfs::file_time_type::clock::now() - std::chrono::hours(3));
  // Another model's update found it on disk and skipped downloading it.
  serving.Pin("vision", {digest});
  serving.Collect("kws", "", {digest});
  CHECK(stdfs::exists(blob));
  // That update ended: nothing pins it any more.
  serving.Pin("vision", {});
  serving.Collect("kws", "", {});
  CHECK_FALSE(stdfs::exists(blob));
}
