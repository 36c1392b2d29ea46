#include "tests/fleetsim/fleetsim.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <grpcpp/grpcpp.h>

#include "common/bundle/bundle.h"
#include "common/core/config.h"
#include "common/core/fs.h"
#include "common/crypto/sha256.h"
#include "common/crypto/x509.h"
#include "common/tls/grpc_tls.h"
#include "controller/edgectl/context.h"
#include "controller/edgectl/remote.h"
#include "edge/v1/admin.grpc.pb.h"
#include "edge/v1/agent.grpc.pb.h"

namespace edge::fleetsim {
namespace {

namespace v1 = edge::v1;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr auto kConnectTimeout = std::chrono::seconds(20);
constexpr auto kFetchDeadline = std::chrono::minutes(5);
constexpr auto kBackoffInitial = std::chrono::milliseconds(500);
constexpr auto kBackoffMax = std::chrono::seconds(30);
constexpr int kDownloadTries = 20;
constexpr const char* kIdentitiesFile = "identities.jsonl";

int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

struct Identity {
  std::string name, key_pem, cert_pem;
};

// identities.jsonl: one {"name","key","cert"} object per line, appended as devices enroll.
Result<std::map<std::string, Identity>> LoadIdentities(const std::filesystem::path& file) {
  std::map<std::string, Identity> out;
  std::ifstream in(file);
  if (!in) return out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.empty()) continue;
    auto j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j.contains("key") || !j.contains("cert") ||
        !j["name"].is_string() || !j["key"].is_string() || !j["cert"].is_string())
      return Fail(ErrorCode::kBadConfig, file.string() + " line " + std::to_string(n) +
                                             ": not an identity ({\"name\",\"key\",\"cert\"}); remove the file to enroll anew");
    Identity id{j["name"], j["key"], j["cert"]};
    out[id.name] = std::move(id);
  }
  return out;
}

// Percentiles of samples (ms), for the summary.
json Distribution(std::vector<double> v, const std::string& unit = "ms") {
  if (v.empty()) return json{{"count", 0}};
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))]; };
  return json{{"count", v.size()}, {"min_" + unit, v.front()}, {"p50_" + unit, at(0.50)}, {"p90_" + unit, at(0.90)},
              {"p99_" + unit, at(0.99)}, {"max_" + unit, v.back()}};
}

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

class Sim;

// The Connect stream of one device. Writes keep at most one report queued behind the one in
// flight (a newer report replaces it, as the agent's link does).
class Stream final : public grpc::ClientBidiReactor<v1::AgentMessage, v1::ControllerMessage> {
 public:
  struct Link {  // shared with the loop; null once the stream is done
    std::mutex mu;
    Stream* stream = nullptr;
  };
  // `link` is made by the caller: the stream may end (and delete itself) before the
  // constructor's caller runs its next line.
  Stream(Sim& sim, size_t device, uint64_t conn, v1::AgentService::Stub& stub, v1::AgentMessage hello,
         std::shared_ptr<Link> link);
  void Send(const v1::AgentMessage& m);  // from the loop, under link->mu
  void Cancel() { ctx_.TryCancel(); }

  void OnWriteDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  Sim& sim_;
  size_t device_;
  uint64_t conn_;
  grpc::ClientContext ctx_;
  std::shared_ptr<Link> link_;
  v1::ControllerMessage in_;
  std::mutex mu_;
  v1::AgentMessage out_;
  std::optional<v1::AgentMessage> queued_;
  bool writing_ = false;
};

// One blob download: the bytes are hashed as they arrive and never kept.
class Fetch final : public grpc::ClientReadReactor<v1::BlobChunk> {
 public:
  Fetch(Sim& sim, size_t device, uint64_t download, v1::AgentService::Stub& stub, BlobWork blob);
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;
  void Cancel() { ctx_.TryCancel(); }  // from the loop, under Sim's fetch registry lock

 private:
  Sim& sim_;
  size_t device_;
  uint64_t download_;
  BlobWork blob_;
  grpc::ClientContext ctx_;
  v1::FetchBlobRequest req_;
  v1::BlobChunk chunk_;
  crypto::Sha256 sha_;
  uint64_t received_ = 0;
  std::string problem_;
  Clock::time_point started_ = Clock::now();
};

struct Device {
  Device(boost::asio::io_context& io, Identity id, const Script* script)
      : model(id.name, script), identity(std::move(id)), report_timer(io), retry_timer(io), fetch_timer(io), soak_timer(io) {}
  SimDevice model;
  Identity identity;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::AgentService::Stub> stub;
  std::shared_ptr<Stream::Link> link;
  uint64_t conn = 0;
  bool connected = false;
  bool ever_connected = false;
  bool stopped = false;  // refused for good (revoked, unknown)
  bool offline = false;  // scripted outage
  int failures = 0;      // consecutive failed connections (backoff)
  size_t moves = 0;      // streams ended so far: which controller of several is next
  Clock::time_point connect_started;
  std::optional<Clock::time_point> desired_at;  // a target arrived, not committed yet
  // retry_timer reconnects the stream, fetch_timer retries a blob: apart, so a fetch retry
  // never cancels a pending reconnect (a device would stay off for good).
  boost::asio::steady_timer report_timer, retry_timer, fetch_timer, soak_timer;
  // The download in flight.
  uint64_t download = 0;  // id; 0 = none
  std::string dl_model, dl_version;
  std::vector<BlobWork> dl_blobs;
  size_t dl_next = 0;
  uint64_t dl_bytes = 0;
  int dl_tries = 0;
};

struct Stats {
  uint64_t enrolled = 0, enroll_errors = 0;
  uint64_t connects = 0, disconnects = 0, refused = 0;
  uint64_t reports = 0, desired = 0, acks = 0;
  uint64_t downloads = 0, download_bytes = 0, download_retries = 0, digest_mismatches = 0, download_failures = 0;
  uint64_t committed = 0, rolled_back = 0, verify_failures = 0, offline_episodes = 0;
  std::vector<double> connect_ms, converge_ms, enroll_ms;
  std::vector<double> blob_mbps;  // per downloaded blob
  std::vector<double> operator_ms;
  std::map<std::string, std::vector<double>> operator_ms_by_kind;
  uint64_t operator_errors = 0;
  std::optional<Clock::time_point> first_fetch;
  Clock::time_point last_fetch_end;
  std::map<std::string, uint64_t> errors;  // "CODE: message" (message cut short) → count
  std::map<std::string, std::string> first_error_device;
};

class Sim {
 public:
  explicit Sim(const Options& o) : o_(o), rng_(o.script.seed) {}
  Result<Outcome> Run();

  // From gRPC threads: run `fn` on the loop.
  template <typename Fn>
  void Post(Fn fn) {
    boost::asio::post(io_, std::move(fn));
  }
  void ReactorStarted() { live_.fetch_add(1); }
  void ReactorDone() { live_.fetch_sub(1); }
  // Blob fetches in flight, so that Finish can cancel them (a stalled one would otherwise hold
  // the exit until its deadline). A fetch leaves the set in OnDone before it is deleted.
  void FetchStarted(Fetch* f) {
    std::lock_guard lock(fetches_mu_);
    fetches_.insert(f);
  }
  void FetchEnded(Fetch* f) {
    std::lock_guard lock(fetches_mu_);
    fetches_.erase(f);
  }
  // Every stream and fetch still running: Finish's, and again while the run drains (a call
  // may have started after it).
  void CancelCalls() {
    for (auto& d : devices_) {
      if (!d->link) continue;
      std::lock_guard lock(d->link->mu);
      if (d->link->stream) d->link->stream->Cancel();
    }
    std::lock_guard lock(fetches_mu_);
    for (Fetch* f : fetches_) f->Cancel();
  }

  void OnStreamMessage(size_t i, uint64_t conn, const v1::ControllerMessage& m);
  void OnStreamDone(size_t i, uint64_t conn, const grpc::Status& status);
  void OnFetchDone(size_t i, uint64_t download, uint64_t bytes, Clock::time_point started, const grpc::Status& status,
                   const std::string& problem);

 private:
  Status Prepare();
  void EnrollMissing(std::vector<std::string> names, std::shared_ptr<v1::OperatorService::Stub> op);
  void EnrollOne(std::shared_ptr<std::vector<std::string>> queue, std::shared_ptr<v1::OperatorService::Stub> op);
  void AddDevice(Identity id);
  // The operator API with the edgectl context's certificate (made once).
  Result<std::shared_ptr<v1::OperatorService::Stub>> Operator(const std::string& why);
  void StartOperatorCalls();
  void OperatorCall();
  void StartConnecting();
  void Connect(size_t i);
  void ScheduleReconnect(size_t i);
  static bool Transient(const grpc::Status& s);
  void RequeueEnrollment(const std::string& name, std::shared_ptr<std::vector<std::string>> queue,
                         std::shared_ptr<v1::OperatorService::Stub> op);
  void ScheduleReport(size_t i);
  void SendReport(size_t i);
  void HandleDesired(size_t i, const v1::DesiredState& desired);
  void StartWork(size_t i, const Work& work);
  void FetchNext(size_t i);
  void ScheduleOffline();
  void Progress();
  bool GoalMet() const;
  void Finish(bool goal_met);
  void Error(size_t i, const std::string& what);
  void Error(const std::string& device, const std::string& what);  // counted by message
  json Summary() const;
  double Elapsed() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }
  std::chrono::milliseconds Jittered(double seconds) {
    const double f = 1 + o_.jitter * (2 * std::uniform_real_distribution<double>(0, 1)(rng_) - 1);
    return std::chrono::milliseconds(static_cast<int64_t>(seconds * f * 1000));
  }
  // The trust policy in `bytes`, verified against the release root (cached per policy).
  Result<std::shared_ptr<bundle::TrustPolicy>> Policy(const std::string& bytes);

  const Options& o_;
  std::mt19937_64 rng_;
  boost::asio::io_context io_;
  std::string ca_pem_;
  crypto::Ed25519PublicKey root_{};
  std::filesystem::path identities_path_;
  std::vector<std::unique_ptr<Device>> devices_;
  std::atomic<int64_t> live_{0};
  std::mutex fetches_mu_;
  std::set<Fetch*> fetches_;
  Stats stats_;
  Clock::time_point started_ = Clock::now();
  bool finishing_ = false;
  bool goal_met_ = false;
  size_t next_to_connect_ = 0;
  double last_progress_ = 0;
  size_t connected_at_end_ = 0;
  // Several controllers: each device starts at one (by its index) and moves to the next after
  // each stream ends, as the agent does; enrollments go round the list.
  std::vector<std::string> agent_endpoints_, enroll_endpoints_;
  size_t next_enroll_endpoint_ = 0;
  std::map<std::string, size_t> connected_by_endpoint_;
  bool interrupted_ = false;
  int enrolling_ = 0;
  int downloads_active_ = 0;
  std::vector<size_t> waiting_download_;
  uint64_t next_download_ = 1;
  std::map<std::string, std::shared_ptr<bundle::TrustPolicy>> policies_;
  std::map<std::string, Result<SimDevice::Verified>> manifests_;  // envelope bytes → verified facts
  boost::asio::steady_timer tick_{io_}, progress_{io_}, stop_{io_}, op_timer_{io_};
  std::shared_ptr<v1::OperatorService::Stub> op_;
  uint64_t op_calls_ = 0;
  int op_in_flight_ = 0;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> script_timers_;
};

Stream::Stream(Sim& sim, size_t device, uint64_t conn, v1::AgentService::Stub& stub, v1::AgentMessage hello,
               std::shared_ptr<Link> link)
    : sim_(sim), device_(device), conn_(conn), link_(std::move(link)) {
  {
    std::lock_guard lock(link_->mu);
    link_->stream = this;
  }
  sim_.ReactorStarted();
  stub.async()->Connect(&ctx_, this);
  out_ = std::move(hello);
  writing_ = true;
  StartWrite(&out_);
  StartRead(&in_);
  // Held until the read side ends (OnReadDone(false)), which is also when Send stops starting
  // writes: without it gRPC could decide on OnDone while the loop, under link->mu, started a
  // write, and call OnDone a second time on a deleted reactor when that write ended.
  AddHold();
  StartCall();
}

void Stream::Send(const v1::AgentMessage& m) {
  std::lock_guard lock(mu_);
  if (writing_) {
    queued_ = m;
    return;
  }
  out_ = m;
  writing_ = true;
  StartWrite(&out_);
}

void Stream::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  writing_ = false;
  if (!ok || !queued_) return;
  out_ = std::move(*queued_);
  queued_.reset();
  writing_ = true;
  StartWrite(&out_);
}

void Stream::OnReadDone(bool ok) {
  if (!ok) {  // the call is over: no Send starts a write from here on, then OnDone may come
    {
      std::lock_guard lock(link_->mu);
      link_->stream = nullptr;
    }
    RemoveHold();
    return;
  }
  sim_.Post([&sim = sim_, device = device_, conn = conn_, msg = in_] { sim.OnStreamMessage(device, conn, msg); });
  StartRead(&in_);
}

void Stream::OnDone(const grpc::Status& status) {
  {
    std::lock_guard lock(link_->mu);
    link_->stream = nullptr;
  }
  sim_.Post([&sim = sim_, device = device_, conn = conn_, status] { sim.OnStreamDone(device, conn, status); });
  sim_.ReactorDone();
  delete this;
}

Fetch::Fetch(Sim& sim, size_t device, uint64_t download, v1::AgentService::Stub& stub, BlobWork blob)
    : sim_(sim), device_(device), download_(download), blob_(std::move(blob)) {
  sim_.ReactorStarted();
  req_.set_digest(blob_.digest);
  ctx_.set_deadline(std::chrono::system_clock::now() + kFetchDeadline);
  sim_.FetchStarted(this);
  stub.async()->FetchBlob(&ctx_, &req_, this);
  StartRead(&chunk_);
  StartCall();
}

void Fetch::OnReadDone(bool ok) {
  if (!ok) return;
  if (chunk_.offset() != received_ || received_ + chunk_.data().size() > blob_.size) {
    problem_ = "chunk at offset " + std::to_string(chunk_.offset()) + " of " + std::to_string(chunk_.data().size()) +
               " bytes does not continue the " + std::to_string(received_) + " received of " + std::to_string(blob_.size);
    ctx_.TryCancel();
    return;
  }
  sha_.Update(chunk_.data());
  received_ += chunk_.data().size();
  StartRead(&chunk_);
}

void Fetch::OnDone(const grpc::Status& status) {
  if (status.ok() && problem_.empty()) {
    if (received_ != blob_.size)
      problem_ = "got " + std::to_string(received_) + " of " + std::to_string(blob_.size) + " bytes";
    else {
      const auto digest = sha_.Final();
      static constexpr char kHex[] = "0123456789abcdef";
      std::string hex;
      for (auto b : digest) {
        hex += kHex[b >> 4];
        hex += kHex[b & 15];
      }
      if (hex != blob_.digest) problem_ = "digest mismatch: got " + hex;
    }
  }
  sim_.Post([&sim = sim_, device = device_, download = download_, bytes = received_, status, problem = problem_,
              started = started_] { sim.OnFetchDone(device, download, bytes, started, status, problem); });
  sim_.FetchEnded(this);
  sim_.ReactorDone();
  delete this;
}

Status Sim::Prepare() {
  if (o_.devices < 0 || (o_.devices == 0 && o_.operator_rate <= 0))
    return Fail(ErrorCode::kInvalidArgument, "--devices must be at least 1 (0 only with --operator-rate: operator calls alone)");
  if (o_.report_interval_s <= 0) return Fail(ErrorCode::kInvalidArgument, "--report-interval must be above 0");
  if (o_.jitter < 0 || o_.jitter >= 1) return Fail(ErrorCode::kInvalidArgument, "--jitter must be in [0, 1)");
  if (o_.connect_rate <= 0) return Fail(ErrorCode::kInvalidArgument, "--connect-rate must be above 0");
  if (!o_.until_connected && !o_.until_converged && o_.duration_s <= 0)
    return Fail(ErrorCode::kInvalidArgument, "say when the run ends: --until-connected, --until-converged or --duration");
  EDGE_ASSIGN_OR_RETURN(agent_endpoints_, config::SplitAddressList(o_.agent_endpoint));
  if (!o_.enroll_endpoint.empty()) {
    EDGE_ASSIGN_OR_RETURN(enroll_endpoints_, config::SplitAddressList(o_.enroll_endpoint));
  }
  EDGE_ASSIGN_OR_RETURN(ca_pem_, tls::ReadPem(o_.ca_file));
  EDGE_ASSIGN_OR_RETURN(auto root_pem, tls::ReadPem(o_.release_root_file));
  auto root = crypto::Ed25519PublicKeyFromPem(root_pem);
  if (!root) return Fail(ErrorCode::kBadConfig, o_.release_root_file + ": " + root.error().message);
  root_ = *root;
  EDGE_TRY(fs::CreateDirectories(o_.state_dir, 0700));
  identities_path_ = std::filesystem::path(o_.state_dir) / kIdentitiesFile;
  EDGE_ASSIGN_OR_RETURN(auto known, LoadIdentities(identities_path_));
  std::vector<std::string> missing;
  for (int n = 1; n <= o_.devices; ++n) {
    char name[96];
    std::snprintf(name, sizeof name, "%s-%05d", o_.prefix.c_str(), n);
    auto it = known.find(name);
    if (it == known.end()) missing.push_back(name);
    else AddDevice(std::move(it->second));
  }
  if (!missing.empty()) {
    if (o_.site.empty())
      return Fail(ErrorCode::kInvalidArgument, std::to_string(missing.size()) + " devices are not enrolled yet (first: " +
                                                   missing.front() + "): give --site to enroll them at");
    // Tokens come from the operator API, with the operator certificate of an edgectl context.
    EDGE_ASSIGN_OR_RETURN(auto op, Operator("enrollment tokens"));
    EnrollMissing(std::move(missing), op);
  }
  if (o_.operator_rate > 0) EDGE_TRY(Operator("operator calls"));
  return Ok();
}

Result<std::shared_ptr<v1::OperatorService::Stub>> Sim::Operator(const std::string& why) {
  if (op_) return op_;
  auto path = o_.edgectl_config.empty() ? edgectl::DefaultConfigPath() : std::filesystem::path(o_.edgectl_config);
  auto context = edgectl::LoadContext(path, o_.edgectl_context);
  if (!context) return Fail(context.error().Wrap(why));
  if (!o_.operator_address.empty()) context->controller = o_.operator_address;
  auto channel = edgectl::ConnectOperatorChannel(*context);
  if (!channel) return Fail(channel.error().Wrap(why));
  op_ = std::make_shared<v1::OperatorService::Stub>(channel->channel);
  return op_;
}

// Operator calls at --operator-rate while the fleet runs, in turn: describe a device, list
// rollouts, list sites, list model versions; each one's latency is kept.
void Sim::StartOperatorCalls() {
  if (o_.operator_rate <= 0 || !op_) return;
  op_timer_.expires_after(std::chrono::microseconds(static_cast<int64_t>(1e6 / o_.operator_rate)));
  op_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || finishing_) return;
    OperatorCall();
    StartOperatorCalls();
  });
}

void Sim::OperatorCall() {
  static constexpr const char* kKinds[] = {"describe_device", "list_rollouts", "list_sites", "list_models"};
  const char* kind = kKinds[op_calls_++ % 4];
  auto ctx = std::make_shared<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  const auto started = Clock::now();
  ++op_in_flight_;
  auto done = [this, ctx, kind, started](const grpc::Status& status) {
    // Timed here, on gRPC's thread: the simulator's own loop, busy with thousands of agents, must
    // not add its queue to the controller's answer.
    const double ms = Ms(Clock::now() - started);
    Post([this, kind, ms, status] {
      --op_in_flight_;
      // Without devices of its own, describe_device asks for "none": NOT_FOUND is its answer.
      const bool answered = status.ok() || (devices_.empty() && status.error_code() == grpc::StatusCode::NOT_FOUND);
      if (!answered) {
        ++stats_.operator_errors;
        Error(std::string(), std::string("operator ") + kind + ": " + status.error_message());
        return;
      }
      stats_.operator_ms.push_back(ms);
      stats_.operator_ms_by_kind[kind].push_back(ms);
    });
  };
  if (kind == kKinds[0]) {
    auto req = std::make_shared<v1::DescribeDeviceRequest>();
    auto resp = std::make_shared<v1::DeviceDetail>();
    req->set_id(devices_.empty() ? "none" : devices_[std::uniform_int_distribution<size_t>(0, devices_.size() - 1)(rng_)]->identity.name);
    op_->async()->DescribeDevice(ctx.get(), req.get(), resp.get(), [req, resp, done](grpc::Status st) { done(st); });
  } else if (kind == kKinds[1]) {
    auto req = std::make_shared<v1::ListRolloutsRequest>();
    auto resp = std::make_shared<v1::ListRolloutsResponse>();
    req->set_limit(20);
    op_->async()->ListRollouts(ctx.get(), req.get(), resp.get(), [req, resp, done](grpc::Status st) { done(st); });
  } else if (kind == kKinds[2]) {
    auto req = std::make_shared<v1::ListSitesRequest>();
    auto resp = std::make_shared<v1::ListSitesResponse>();
    op_->async()->ListSites(ctx.get(), req.get(), resp.get(), [req, resp, done](grpc::Status st) { done(st); });
  } else {
    auto req = std::make_shared<v1::ListModelsRequest>();
    auto resp = std::make_shared<v1::ListModelsResponse>();
    op_->async()->ListModels(ctx.get(), req.get(), resp.get(), [req, resp, done](grpc::Status st) { done(st); });
  }
}

void Sim::AddDevice(Identity id) {
  devices_.push_back(std::make_unique<Device>(io_, std::move(id), &o_.script));
}

void Sim::EnrollMissing(std::vector<std::string> names, std::shared_ptr<v1::OperatorService::Stub> op) {
  std::cerr << "fleetsim: enrolling " << names.size() << " devices at site " << o_.site << "\n";
  auto queue = std::make_shared<std::vector<std::string>>(std::move(names));
  std::reverse(queue->begin(), queue->end());
  for (int k = 0; k < o_.enroll_concurrency; ++k) EnrollOne(queue, op);
}

// Takes the next name: a token from the operator API, a key and CSR, then Enroll.
void Sim::EnrollOne(std::shared_ptr<std::vector<std::string>> queue, std::shared_ptr<v1::OperatorService::Stub> op) {
  if (queue->empty() || finishing_) {
    if (enrolling_ == 0 && queue->empty() && !finishing_) StartConnecting();
    return;
  }
  const auto name = queue->back();
  queue->pop_back();
  ++enrolling_;
  const auto started = Clock::now();
  struct TokenCall {
    grpc::ClientContext ctx;
    v1::CreateEnrollmentTokenRequest req;
    v1::EnrollmentToken resp;
  };
  auto call = std::make_shared<TokenCall>();
  call->req.set_site(o_.site);
  call->req.set_ttl_seconds(3600);
  call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  op->async()->CreateEnrollmentToken(&call->ctx, &call->req, &call->resp, [this, call, name, queue, op, started](grpc::Status s) {
    Post([this, call, name, queue, op, started, s] {
      auto fail = [&](const std::string& why) {
        ++stats_.enroll_errors;
        Error(name, "enroll: " + why);
        --enrolling_;
        EnrollOne(queue, op);
      };
      if (!s.ok()) {
        if (!Transient(s)) return fail("token: " + s.error_message());
        ++stats_.enroll_errors;
        Error(name, "enroll: token: " + s.error_message());
        --enrolling_;
        return RequeueEnrollment(name, queue, op);
      }
      auto key = crypto::PrivateKey::GenerateP256();
      auto key_pem = key ? key->ToPem() : Result<std::string>(Fail(key.error()));
      auto csr = key ? crypto::CreateCsr(*key, name) : Result<std::string>(Fail(key.error()));
      if (!key_pem || !csr) return fail("key: " + (key_pem ? csr.error() : key_pem.error()).message);
      struct EnrollCall {
        grpc::ClientContext ctx;
        v1::EnrollRequest req;
        v1::EnrollResponse resp;
        std::shared_ptr<grpc::Channel> channel;
        std::unique_ptr<v1::EnrollmentService::Stub> stub;
      };
      auto e = std::make_shared<EnrollCall>();
      e->req.set_token(call->resp.token());
      e->req.set_device_name(name);
      e->req.set_csr_pem(*csr);
      e->req.mutable_facts()->set_arch("x86_64");
      e->req.mutable_facts()->set_os("linux (edge-fleetsim)");
      e->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      const auto& endpoint = enroll_endpoints_.empty() ? std::string() : enroll_endpoints_[next_enroll_endpoint_++ % enroll_endpoints_.size()];
      e->channel = grpc::CreateCustomChannel(endpoint, tls::ClientCredentials({ca_pem_, "", ""}),
                                             tls::ClientChannelArgs(kConnectTimeout));
      e->stub = v1::EnrollmentService::NewStub(e->channel);
      e->stub->async()->Enroll(&e->ctx, &e->req, &e->resp, [this, e, name, queue, op, started, key_pem = *key_pem](grpc::Status es) {
        Post([this, e, name, queue, op, started, key_pem, es] {
          --enrolling_;
          if (!es.ok()) {
            ++stats_.enroll_errors;
            Error(name, "enroll: " + es.error_message());
            // A token the controller refused is not retried.
            if (Transient(es)) return RequeueEnrollment(name, queue, op);
          } else {
            Identity id{e->resp.device_id(), key_pem, e->resp.certificate_pem()};
            std::ofstream out(identities_path_, std::ios::app);
            out << json{{"name", id.name}, {"key", id.key_pem}, {"cert", id.cert_pem}}.dump() << "\n";
            if (!out) Error(std::string(), "cannot append to " + identities_path_.string());
            ::chmod(identities_path_.c_str(), 0600);
            ++stats_.enrolled;
            stats_.enroll_ms.push_back(Ms(Clock::now() - started));
            AddDevice(std::move(id));
          }
          EnrollOne(queue, op);
        });
      });
    });
  });
}

// A call the controller may answer later: the enrollment listener caps connections per source
// and fails the rest (UNAVAILABLE, RESOURCE_EXHAUSTED), a busy controller refuses or times
// out a call it has not worked on (RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED).
bool Sim::Transient(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE || s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
}

// The name goes back in the queue and this worker waits, as an agent backs off.
void Sim::RequeueEnrollment(const std::string& name, std::shared_ptr<std::vector<std::string>> queue,
                            std::shared_ptr<v1::OperatorService::Stub> op) {
  queue->insert(queue->begin(), name);
  auto pause = std::make_shared<boost::asio::steady_timer>(io_, Jittered(1.0));
  ++enrolling_;
  pause->async_wait([this, pause, queue, op](const boost::system::error_code&) {
    --enrolling_;
    EnrollOne(queue, op);
  });
}

void Sim::StartConnecting() {
  std::cerr << "fleetsim: connecting " << devices_.size() << " devices at " << o_.connect_rate << "/s\n";
  if (devices_.empty()) {  // --devices 0: an operator's calls alone, in a process of their own
    if (o_.operator_rate > 0) return StartOperatorCalls();
    return Finish(false);
  }
  next_to_connect_ = 0;
  ScheduleOffline();
  StartOperatorCalls();
  // Starts the streams paced: a tick every 10 ms opens its share.
  auto tick = std::make_shared<std::function<void()>>();
  auto budget = std::make_shared<double>(0);
  *tick = [this, tick, budget] {
    if (finishing_) return;
    *budget += o_.connect_rate / 100;
    while (*budget >= 1 && next_to_connect_ < devices_.size()) {
      Connect(next_to_connect_++);
      *budget -= 1;
    }
    if (next_to_connect_ >= devices_.size()) return;
    tick_.expires_after(std::chrono::milliseconds(10));
    tick_.async_wait([tick](const boost::system::error_code& ec) {
      if (!ec) (*tick)();
    });
  };
  (*tick)();
}

void Sim::Connect(size_t i) {
  auto& d = *devices_[i];
  if (finishing_ || d.stopped || d.offline) return;
  // A fresh channel per connection, as the agent does.
  d.channel = grpc::CreateCustomChannel(agent_endpoints_[(i + d.moves) % agent_endpoints_.size()],
                                        tls::ClientCredentials({ca_pem_, d.identity.cert_pem, d.identity.key_pem}),
                                        tls::ClientChannelArgs(kConnectTimeout));
  d.stub = v1::AgentService::NewStub(d.channel);
  d.connect_started = Clock::now();
  ++d.conn;
  v1::AgentMessage hello;
  uint64_t policy_version = policies_.empty() ? 0 : policies_.rbegin()->second->version;
  *hello.mutable_hello() = d.model.MakeHello(policy_version);
  d.link = std::make_shared<Stream::Link>();
  new Stream(*this, i, d.conn, *d.stub, std::move(hello), d.link);
}

void Sim::OnStreamMessage(size_t i, uint64_t conn, const v1::ControllerMessage& m) {
  auto& d = *devices_[i];
  if (conn != d.conn || finishing_) return;
  if (m.has_desired()) {
    ++stats_.desired;
    if (!d.connected) {
      d.connected = true;
      d.failures = 0;
      ++stats_.connects;
      if (!d.ever_connected) stats_.connect_ms.push_back(Ms(Clock::now() - d.connect_started));
      d.ever_connected = true;
      ScheduleReport(i);
    }
    HandleDesired(i, m.desired());
  } else if (m.has_ack()) {
    ++stats_.acks;
    d.model.OnAck(m.ack().up_to_seq());
  }
}

void Sim::OnStreamDone(size_t i, uint64_t conn, const grpc::Status& status) {
  auto& d = *devices_[i];
  if (conn != d.conn) return;
  d.link.reset();
  d.report_timer.cancel();
  if (d.connected) ++stats_.disconnects;
  d.connected = false;
  ++d.moves;  // the next connection goes to the next controller (with one, the same)
  if (finishing_) return;
  if (!status.ok()) Error(i, std::to_string(status.error_code()) + ": " + status.error_message());
  if (status.error_code() == grpc::StatusCode::PERMISSION_DENIED) {  // revoked, denied serial: stays off
    d.stopped = true;
    ++stats_.refused;
    return;
  }
  if (d.offline) return;  // the outage's end reconnects
  ScheduleReconnect(i);
}

void Sim::ScheduleReconnect(size_t i) {
  auto& d = *devices_[i];
  const double ceiling = std::min<double>(std::chrono::duration<double>(kBackoffMax).count(),
                                          std::chrono::duration<double>(kBackoffInitial).count() * std::pow(2.0, d.failures));
  ++d.failures;
  const auto delay = std::chrono::milliseconds(
      static_cast<int64_t>(1000 * ceiling * std::uniform_real_distribution<double>(0.5, 1)(rng_)));
  d.retry_timer.expires_after(delay);
  d.retry_timer.async_wait([this, i](const boost::system::error_code& ec) {
    if (!ec) Connect(i);
  });
}

void Sim::ScheduleReport(size_t i) {
  auto& d = *devices_[i];
  d.report_timer.expires_after(Jittered(o_.report_interval_s));
  d.report_timer.async_wait([this, i](const boost::system::error_code& ec) {
    if (ec || finishing_) return;
    SendReport(i);
    ScheduleReport(i);
  });
}

void Sim::SendReport(size_t i) {
  auto& d = *devices_[i];
  if (!d.connected || !d.link) return;
  v1::AgentMessage msg;
  *msg.mutable_status() = d.model.MakeReport(UnixNow(), Elapsed());
  std::lock_guard lock(d.link->mu);
  if (!d.link->stream) return;
  d.link->stream->Send(msg);
  ++stats_.reports;
}

Result<std::shared_ptr<bundle::TrustPolicy>> Sim::Policy(const std::string& bytes) {
  auto it = policies_.find(bytes);
  if (it != policies_.end()) return it->second;
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(bytes));
  EDGE_ASSIGN_OR_RETURN(auto policy, bundle::VerifyTrustPolicy(envelope, root_, UnixNow()));
  auto shared = std::make_shared<bundle::TrustPolicy>(std::move(policy));
  policies_[bytes] = shared;
  return shared;
}

void Sim::HandleDesired(size_t i, const v1::DesiredState& desired) {
  auto& d = *devices_[i];
  const auto now = UnixNow();
  auto policy = Policy(desired.trust_policy());
  std::map<std::pair<std::string, std::string>, SimDevice::Verified> verified;
  for (const auto& m : desired.models()) {
    auto it = manifests_.find(m.envelope());
    if (it == manifests_.end()) {
      Result<SimDevice::Verified> facts = Fail(ErrorCode::kUnauthenticated, "no trust policy");
      if (policy) {
        auto manifest = bundle::ParseEnvelope(m.envelope()).and_then(
            [&](const bundle::Envelope& e) { return bundle::VerifyManifest(e, **policy, now); });
        if (!manifest) {
          facts = Fail(manifest.error());
        } else if (manifest->name != m.model() || manifest->version != m.version()) {
          facts = Fail(ErrorCode::kUnauthenticated, "the envelope signs " + manifest->name + ":" + manifest->version);
        } else {
          SimDevice::Verified v;
          for (const auto& b : manifest->blobs) v.blobs.push_back({b.digest, b.size});
          v.security_version = manifest->security_version;
          v.soak_s = static_cast<double>(manifest->health.soak_seconds);
          facts = std::move(v);
        }
      } else {
        facts = Fail(policy.error());
      }
      it = manifests_.emplace(m.envelope(), std::move(facts)).first;
    }
    if (it->second) {
      verified[{m.model(), m.version()}] = *it->second;
    } else {
      ++stats_.verify_failures;
      Error(i, "refused " + m.model() + ":" + m.version() + ": " + it->second.error().message);
      d.model.Refuse(m.model(), m.version(), it->second.error().message, now);
    }
  }
  const bool was_converging = d.desired_at.has_value();
  auto work = d.model.OnDesired(desired, verified, now);
  if (work.download && !was_converging) d.desired_at = Clock::now();
  StartWork(i, work);
  SendReport(i);
}

void Sim::StartWork(size_t i, const Work& work) {
  auto& d = *devices_[i];
  if (work.download) {
    if (d.download != 0) {  // a newer target replaces the download queued or in flight
      const auto queued = std::find(waiting_download_.begin(), waiting_download_.end(), i);
      if (queued != waiting_download_.end()) {
        waiting_download_.erase(queued);
      } else {
        --downloads_active_;  // its fetch, when it ends, sees another download id and does nothing
      }
    }
    d.download = next_download_++;
    d.dl_model = work.download->first;
    d.dl_version = work.download->second;
    d.dl_blobs = work.blobs;
    d.dl_next = 0;
    d.dl_bytes = 0;
    d.dl_tries = 0;
    if (o_.download_concurrency > 0 && downloads_active_ >= o_.download_concurrency) {
      waiting_download_.push_back(i);
    } else {
      ++downloads_active_;
      FetchNext(i);
    }
  }
  if (work.soak_until) {
    const auto model = d.dl_model, version = d.dl_version;
    d.soak_timer.expires_after(std::chrono::milliseconds(static_cast<int64_t>(std::max(0.0, *work.soak_until - Elapsed()) * 1000)));
    d.soak_timer.async_wait([this, i, model, version](const boost::system::error_code& ec) {
      if (ec || finishing_) return;
      auto& dev = *devices_[i];
      dev.model.SoakDone(model, version, UnixNow());
      if (dev.model.CommittedOn(model, version)) {
        ++stats_.committed;
        if (dev.desired_at) stats_.converge_ms.push_back(Ms(Clock::now() - *dev.desired_at));
        dev.desired_at.reset();
      }
      SendReport(i);
    });
  }
}

void Sim::FetchNext(size_t i) {
  auto& d = *devices_[i];
  if (!d.stub || d.dl_next >= d.dl_blobs.size()) return;
  new Fetch(*this, i, d.download, *d.stub, d.dl_blobs[d.dl_next]);
}

void Sim::OnFetchDone(size_t i, uint64_t download, uint64_t bytes, Clock::time_point started, const grpc::Status& status,
                      const std::string& problem) {
  auto& d = *devices_[i];
  const auto now = Clock::now();
  stats_.download_bytes += bytes;
  if (!stats_.first_fetch || started < *stats_.first_fetch) stats_.first_fetch = started;
  stats_.last_fetch_end = now;
  if (download != d.download || finishing_) return;
  auto end_download = [&] {
    d.download = 0;
    --downloads_active_;
    while (!waiting_download_.empty() && (o_.download_concurrency == 0 || downloads_active_ < o_.download_concurrency)) {
      const auto next = waiting_download_.front();
      waiting_download_.erase(waiting_download_.begin());
      if (devices_[next]->download == 0) continue;
      ++downloads_active_;
      FetchNext(next);
    }
  };
  if (status.ok() && problem.empty()) {
    ++stats_.downloads;
    // MB/s of this blob (as "ms" samples of the distribution: the field names say MB/s).
    stats_.blob_mbps.push_back(static_cast<double>(bytes) / 1e6 / std::max(1e-6, std::chrono::duration<double>(now - started).count()));
    d.dl_bytes += bytes;
    d.model.OnProgress(d.dl_model, d.dl_version, d.dl_bytes);
    if (++d.dl_next < d.dl_blobs.size()) return FetchNext(i);
    end_download();
    StartWork(i, d.model.OnDownloaded(d.dl_model, d.dl_version, true, "", UnixNow(), Elapsed()));
    if (d.model.WillFail(d.dl_version)) {
      ++stats_.rolled_back;
      d.desired_at.reset();
    }
    SendReport(i);
    return;
  }
  const bool mismatch = problem.rfind("digest mismatch", 0) == 0;
  if (mismatch) ++stats_.digest_mismatches;
  Error(i, "fetch: " + (problem.empty() ? std::to_string(status.error_code()) + ": " + status.error_message() : problem));
  if (mismatch || status.error_code() == grpc::StatusCode::PERMISSION_DENIED || ++d.dl_tries >= kDownloadTries) {
    ++stats_.download_failures;
    end_download();
    d.model.OnDownloaded(d.dl_model, d.dl_version, false, problem.empty() ? status.error_message() : problem, UnixNow(), Elapsed());
    d.desired_at.reset();
    SendReport(i);
    return;
  }
  ++stats_.download_retries;  // busy controller, dropped connection: again after a backoff
  d.fetch_timer.expires_after(Jittered(std::min(30.0, 0.5 * std::pow(2.0, d.dl_tries))));
  d.fetch_timer.async_wait([this, i, download](const boost::system::error_code& ec) {
    if (!ec && devices_[i]->download == download) FetchNext(i);
  });
}

// Each offline rule: its devices drop their stream `after_s` into the run and come back
// `for_s` later.
void Sim::ScheduleOffline() {
  size_t rule = 0;
  for (const auto& off : o_.script.offline) {
    std::vector<size_t> chosen;
    for (size_t i = 0; i < devices_.size(); ++i)
      if (Chosen(o_.script.seed, "offline:" + std::to_string(rule), devices_[i]->identity.name, off.share)) chosen.push_back(i);
    ++rule;
    auto down = std::make_unique<boost::asio::steady_timer>(io_, std::chrono::milliseconds(static_cast<int64_t>(off.after_s * 1000)));
    down->async_wait([this, chosen, off](const boost::system::error_code& ec) {
      if (ec || finishing_) return;
      ++stats_.offline_episodes;
      for (auto i : chosen) {
        auto& d = *devices_[i];
        d.offline = true;
        d.retry_timer.cancel();
        if (d.link) {
          std::lock_guard lock(d.link->mu);
          if (d.link->stream) d.link->stream->Cancel();
        }
      }
      auto up = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(static_cast<int64_t>(off.for_s * 1000)));
      up->async_wait([this, chosen, up](const boost::system::error_code& e2) {
        if (e2 || finishing_) return;
        for (auto i : chosen) {
          devices_[i]->offline = false;
          if (!devices_[i]->link) Connect(i);
        }
      });
    });
    script_timers_.push_back(std::move(down));
  }
}

bool Sim::GoalMet() const {
  if (devices_.size() < static_cast<size_t>(o_.devices)) return false;
  if (o_.until_connected)
    return std::all_of(devices_.begin(), devices_.end(), [](const auto& d) { return d->connected; });
  if (o_.until_converged) {
    const auto& [model, version] = *o_.until_converged;
    return std::all_of(devices_.begin(), devices_.end(), [&](const auto& d) {
      return d->model.WillFail(version) || (d->model.CommittedOn(model, version) && d->model.unacked_events() == 0);
    });
  }
  return false;
}

void Sim::Progress() {
  size_t connected = 0, converged = 0;
  for (const auto& d : devices_) {
    connected += d->connected;
    if (o_.until_converged) converged += d->model.CommittedOn(o_.until_converged->first, o_.until_converged->second);
  }
  std::cerr << "fleetsim: t=" << static_cast<int>(Elapsed()) << "s devices " << devices_.size() << "/" << o_.devices
            << " connected " << connected;
  if (o_.until_converged) std::cerr << " on " << o_.until_converged->second << " " << converged;
  std::cerr << " reports " << stats_.reports << " downloads " << stats_.downloads << " errors "
            << [&] {
                 uint64_t n = 0;
                 for (const auto& [k, v] : stats_.errors) n += v;
                 return n;
               }()
            << "\n";
}

void Sim::Error(size_t i, const std::string& what) { Error(i < devices_.size() ? devices_[i]->identity.name : "", what); }

void Sim::Error(const std::string& device, const std::string& what) {
  auto key = what.substr(0, 160);
  if (stats_.errors[key]++ == 0) stats_.first_error_device[key] = device;
}

void Sim::Finish(bool goal_met) {
  if (finishing_) return;
  finishing_ = true;
  goal_met_ = goal_met;
  for (size_t i = 0; i < devices_.size(); ++i) {
    const auto& d = *devices_[i];
    connected_at_end_ += d.connected;
    if (d.connected) ++connected_by_endpoint_[agent_endpoints_[(i + d.moves) % agent_endpoints_.size()]];
  }
  tick_.cancel();
  progress_.cancel();
  op_timer_.cancel();
  stop_.cancel();
  for (auto& t : script_timers_) t->cancel();
  for (auto& d : devices_) {
    d->report_timer.cancel();
    d->retry_timer.cancel();
    d->fetch_timer.cancel();
    d->soak_timer.cancel();
  }
  CancelCalls();
}

json Sim::Summary() const {
  size_t converged = 0, ever = 0;
  uint64_t events = 0, unacked = 0;
  for (const auto& d : devices_) {
    ever += d->ever_connected;
    events += d->model.events_emitted();
    unacked += d->model.unacked_events();
    if (o_.until_converged) converged += d->model.CommittedOn(o_.until_converged->first, o_.until_converged->second);
  }
  std::vector<std::pair<uint64_t, std::string>> by_count;
  for (const auto& [what, n] : stats_.errors) by_count.emplace_back(n, what);
  std::sort(by_count.rbegin(), by_count.rend());
  json errors = json::array();
  for (const auto& [n, what] : by_count)
    errors.push_back({{"error", what}, {"count", n}, {"first_device", stats_.first_error_device.at(what)}});
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  json s{{"goal_met", goal_met_},
         {"interrupted", interrupted_},
         {"elapsed_s", Elapsed()},
         {"devices", devices_.size()},
         {"enrolled", stats_.enrolled},
         {"enroll_errors", stats_.enroll_errors},
         {"enroll", Distribution(stats_.enroll_ms)},
         {"connected_at_end", connected_at_end_},
         {"connected_by_endpoint", connected_by_endpoint_},
         {"ever_connected", ever},
         {"connects", stats_.connects},
         {"disconnects", stats_.disconnects},
         {"refused", stats_.refused},
         {"connect", Distribution(stats_.connect_ms)},
         {"reports_sent", stats_.reports},
         {"desired_states", stats_.desired},
         {"acks", stats_.acks},
         {"events_emitted", events},
         {"events_unacknowledged", unacked},
         {"downloads", stats_.downloads},
         {"download_bytes", stats_.download_bytes},
         {"download_retries", stats_.download_retries},
         {"download_failures", stats_.download_failures},
         {"digest_mismatches", stats_.digest_mismatches},
         {"blob_throughput", Distribution(stats_.blob_mbps, "mbps")},
         {"download_aggregate_mbps",
          stats_.first_fetch ? static_cast<double>(stats_.download_bytes) / 1e6 /
                                   std::max(1e-6, std::chrono::duration<double>(stats_.last_fetch_end - *stats_.first_fetch).count())
                             : 0.0},
         {"verify_failures", stats_.verify_failures},
         {"committed", stats_.committed},
         {"rolled_back", stats_.rolled_back},
         {"offline_episodes", stats_.offline_episodes},
         {"converge", Distribution(stats_.converge_ms)},
         {"operator_calls", Distribution(stats_.operator_ms)},
         {"operator_errors", stats_.operator_errors},
         {"errors", errors},
         {"simulator_cpu_s", static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                                 static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6},
         {"simulator_max_rss_kb", ru.ru_maxrss}};
  for (const auto& [kind, ms] : stats_.operator_ms_by_kind) s["operator_by_call"][kind] = Distribution(ms);
  if (o_.until_converged) {
    s["target"] = o_.until_converged->first + ":" + o_.until_converged->second;
    s["converged"] = converged;
  }
  return s;
}

Result<Outcome> Sim::Run() {
  EDGE_TRY(Prepare());
  // SIGINT/SIGTERM end the run as a missed goal, with its summary.
  boost::asio::signal_set signals(io_, SIGINT, SIGTERM);
  signals.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    interrupted_ = true;
    std::cerr << "fleetsim: interrupted; ending the run\n";
    Finish(false);
  });
  if (enrolling_ == 0 && !finishing_) StartConnecting();
  auto progress = std::make_shared<std::function<void()>>();
  *progress = [this, progress] {
    if (finishing_) return;
    if (GoalMet()) return Finish(true);
    // A run that only has a duration succeeds if it ends with every device connected that
    // should be (not refused for good, not in a scripted outage).
    if (o_.duration_s > 0 && Elapsed() >= o_.duration_s)
      return Finish(!o_.until_connected && !o_.until_converged &&
                    std::all_of(devices_.begin(), devices_.end(),
                                [](const auto& d) { return d->connected || d->stopped || d->offline; }));
    if (Elapsed() >= o_.timeout_s) {
      std::cerr << "fleetsim: timed out after " << o_.timeout_s << " s\n";
      return Finish(false);
    }
    if (Elapsed() - last_progress_ >= o_.progress_interval_s) {
      last_progress_ = Elapsed();
      Progress();
    }
    progress_.expires_after(std::chrono::milliseconds(100));
    progress_.async_wait([progress](const boost::system::error_code& ec) {
      if (!ec) (*progress)();
    });
  };
  (*progress)();
  // Runs until Finish has cancelled every stream and each reactor has reported its end.
  auto drained = std::make_shared<std::function<void()>>();
  *drained = [this, drained] {
    if (finishing_ && live_.load() == 0 && enrolling_ == 0 && op_in_flight_ == 0) return io_.stop();  // the signal wait too
    stop_.expires_after(std::chrono::milliseconds(50));
    stop_.async_wait([this, drained](const boost::system::error_code&) {
      if (finishing_) CancelCalls();
      (*drained)();
    });
  };
  (*drained)();
  io_.run();
  Progress();
  return Outcome{goal_met_, Summary()};
}

}  // namespace

Result<Outcome> Run(const Options& options) {
  Sim sim(options);
  return sim.Run();
}

}  // namespace edge::fleetsim
