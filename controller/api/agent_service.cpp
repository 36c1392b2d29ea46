// AgentService: the device endpoint (mTLS, fleet CA). The device id is read from the client
// certificate on every call; no request field can name another device.
#include <fcntl.h>
#include <unistd.h>

#include <deque>
#include <mutex>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>

#include "common/core/log.h"
#include "common/core/text.h"
#include "common/tls/grpc_tls.h"
#include "controller/api/health_report.h"
#include "controller/api/rollout_driver.h"
#include "controller/api/services.h"
#include "edge/v1/agent.grpc.pb.h"

namespace edge::controller {
namespace {

using edge::v1::AgentMessage;
using edge::v1::ControllerMessage;

constexpr size_t kChunkBytes = 1 << 20;
// Server-side deadlines (agents end their stream after 30 min themselves and reconnect).
constexpr auto kHelloDeadline = std::chrono::seconds(30);
constexpr auto kStreamDeadline = std::chrono::minutes(60);
constexpr auto kFetchDeadline = std::chrono::minutes(30);
// Messages per Connect stream: a burst of 20, then 5 a second. Beyond that the controller
// reads the next message later (HTTP/2 flow control pushes back on the device); an honest
// agent reports every few seconds and on each state change.
constexpr double kMessagesPerSecond = 5;
constexpr double kMessageBurst = 20;
constexpr size_t kMaxVersion = 64;
constexpr size_t kMaxDetail = 1024;
constexpr uint64_t kMaxCounter = static_cast<uint64_t>(INT64_MAX);

// Checks the certificate's serial is not denied and the device in it is enrolled, not revoked
// and presents its current certificate (strand only).
Status CheckDevice(ControllerContext& ctx, const tls::PeerIdentity& peer) {
  auto denied = ctx.store->FindDeniedSerial(peer.cert_serial);
  if (!denied) return Fail(denied.error());
  if (*denied) {
    const auto& d = **denied;
    if (d.reason == "renewed")
      return Fail(ErrorCode::kUnauthenticated,
                  "certificate serial " + peer.cert_serial + " of " + d.identity +
                      " was replaced by a renewal; if this device did not renew it, its key may have been copied: "
                      "revoke it (edgectl revoke device " + peer.id.name + ")");
    return Fail(ErrorCode::kPermissionDenied, "certificate serial " + peer.cert_serial + " of " + d.identity + " is " + d.reason);
  }
  auto device = ctx.store->GetDevice(peer.id.name);
  if (!device) return Fail(ErrorCode::kUnauthenticated, "device " + peer.id.name + " is not enrolled");
  if (device->revoked) return Fail(ErrorCode::kPermissionDenied, "device " + peer.id.name + " is revoked");
  if (device->cert_serial != peer.cert_serial)
    return Fail(ErrorCode::kUnauthenticated, "certificate serial " + peer.cert_serial + " is not device " +
                                                 peer.id.name + "'s current certificate");
  return Ok();
}

// A state is a lower-case word (the agent's state machine names them).
bool IsStateName(const std::string& s) {
  if (s.size() > kMaxState) return false;
  for (char c : s)
    if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
  return true;
}

bool IsVersionOrEmpty(const std::string& v) { return v.empty() || (v.size() <= kMaxVersion && crypto::IsValidLabel(v)); }

// The reported models, or why the report is refused: a bad value is never stored, and the
// error names the field so whoever runs the device can find the bug.
Result<std::vector<ReportedModelRecord>> ToRecords(const google::protobuf::RepeatedPtrField<edge::v1::ModelStatus>& models) {
  if (models.size() > static_cast<int>(kMaxReportedModelsPerDevice))
    return Fail(ErrorCode::kInvalidArgument, "report has " + std::to_string(models.size()) + " models, at most " +
                                                 std::to_string(kMaxReportedModelsPerDevice));
  std::vector<ReportedModelRecord> out;
  for (const auto& m : models) {
    const std::string where = "model status '" + TruncateUtf8(m.model(), 64) + "': ";
    if (!crypto::IsValidLabel(m.model())) return Fail(ErrorCode::kInvalidArgument, where + "model name must be " + crypto::kLabelRule);
    if (!IsVersionOrEmpty(m.version())) return Fail(ErrorCode::kInvalidArgument, where + "version must be empty or " + crypto::kLabelRule);
    if (!IsVersionOrEmpty(m.target_version()))
      return Fail(ErrorCode::kInvalidArgument, where + "target_version must be empty or " + crypto::kLabelRule);
    if (!IsStateName(m.state())) return Fail(ErrorCode::kInvalidArgument, where + "state must be [a-z_]{0,32}");
    if (m.security_version() > kMaxCounter || m.security_floor() > kMaxCounter || m.bytes_done() > kMaxCounter ||
        m.bytes_total() > kMaxCounter)
      return Fail(ErrorCode::kInvalidArgument, where + "security_version, security_floor and byte counts must be below 2^63");
    for (const auto& other : out)
      if (other.model == m.model()) return Fail(ErrorCode::kInvalidArgument, where + "reported twice");
    out.push_back({m.model(), m.version(), m.security_version(), m.state(), m.target_version(),
                   TruncateUtf8(text::PlainText(m.detail()), kMaxDetail), m.bytes_done(), m.bytes_total(),
                   m.security_floor(), 0});
  }
  return out;
}

bool IsPrintableAscii(const std::string& s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

class ConnectReactor final : public grpc::ServerBidiReactor<AgentMessage, ControllerMessage> {
 public:
  // Shared with the session registry; outlives the reactor.
  struct Handle final : AgentStreamHandle {
    std::mutex mu;
    ConnectReactor* reactor = nullptr;
    uint64_t stream_id = 0;  // this controller's number for the stream
    uint64_t stream() const override { return stream_id; }
    // The stream's deadline and throttle timers, cancelled when it ends (strand only).
    std::vector<std::shared_ptr<boost::asio::steady_timer>> timers;
    void Send(const ControllerMessage& m) override {
      std::lock_guard lock(mu);
      if (reactor) reactor->Enqueue(m);
    }
    void Close(int code, const std::string& message) override {
      std::lock_guard lock(mu);
      if (reactor) reactor->FinishOnce(grpc::Status(static_cast<grpc::StatusCode>(code), message));
    }
  };

  ConnectReactor(ControllerContext& ctx, tls::PeerIdentity peer)
      : ctx_(ctx), peer_(std::move(peer)), handle_(std::make_shared<Handle>()),
        rate_(kMessagesPerSecond, kMessageBurst) {
    handle_->reactor = this;
    handle_->stream_id = ctx_.next_stream.fetch_add(1);
    StartRead(&in_);
    After(kHelloDeadline, [this] {
      if (!hello_seen_) FinishOnce(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "no hello within 30 s"));
    });
    After(kStreamDeadline, [this] {
      FinishOnce(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "stream open for 60 min; reconnect"));
    });
  }

  void Enqueue(const ControllerMessage& m) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    queue_.push_back(m);
    if (!writing_) {
      writing_ = true;
      StartWrite(&queue_.front());
    }
  }

  void FinishOnce(const grpc::Status& status) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    Finish(status);
  }

  // No read may start once Finish was called (gRPC's rule; breaking it crashed the controller
  // under emulation). A stream can be finished from elsewhere (a revocation, a newer connection,
  // a deadline) while one of its messages waits for the strand or a read waits for the rate
  // limit: every read starts here, under the lock FinishOnce takes.
  void StartReadIfOpen() {
    std::lock_guard lock(mu_);
    if (!finished_) StartRead(&in_);
  }

  bool Finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    AgentMessage msg = std::move(in_);
    ctx_.urgent.PostOrdinary([this, handle = handle_, msg = std::move(msg)] {
      // The reactor may have ended while this waited; `handle` tells.
      std::lock_guard lock(handle->mu);
      if (!handle->reactor || Finished()) return;
      HandleMessage(msg);
    });
  }

  void OnWriteDone(bool ok) override {
    std::lock_guard lock(mu_);
    queue_.pop_front();
    if (!ok) {
      writing_ = false;
      return;
    }
    if (!queue_.empty() && !finished_) {
      StartWrite(&queue_.front());
    } else {
      writing_ = false;
    }
  }

  void OnDone() override {
    bool had_hello = false;
    {
      std::lock_guard lock(handle_->mu);
      handle_->reactor = nullptr;
      had_hello = hello_seen_;
    }
    ctx_.urgent.PostOrdinary([&ctx = ctx_, id = peer_.id.name, handle = handle_, had_hello] {
      ctx.ForgetPendingHello(id, handle.get());  // ended while its hello waited
      if (had_hello) {
        ctx.live_streams.erase(handle->stream_id);
        ctx.SessionEnded(id, handle->stream_id);
      }
      for (auto& timer : handle->timers) timer->cancel();
      handle->timers.clear();
      auto it = ctx.sessions.find(id);
      if (it != ctx.sessions.end() && it->second == handle) {
        ctx.sessions.erase(it);
        ctx.SessionsChanged();
        log::Info("agent disconnected", {{"device", id}});
      }
    });
    delete this;
  }

 private:
  // Strand only, with handle_->mu held (so the reactor is alive). A hello or status report is
  // checked here and written in the next batch (ReportIngest); the stream reads its next
  // message once the batch is written.
  void HandleMessage(const AgentMessage& msg) {
    const auto now = ctx_.clock.NowUnix();
    AgentReport report;
    report.device_id = peer_.id.name;
    report.now = now;
    if (!hello_seen_) {
      if (!msg.has_hello()) {
        FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first message on Connect must be hello"));
        return;
      }
      if (auto s = CheckDevice(ctx_, peer_); !s) {
        log::Warn("agent rejected", {{"device", peer_.id.name}, {"error", s.error().message}});
        FinishOnce(tls::ToGrpcStatus(s.error()));
        return;
      }
      const auto& agent_version = msg.hello().agent_version();
      if (agent_version.size() > 64 || !IsPrintableAscii(agent_version))
        return Refuse(Error{ErrorCode::kInvalidArgument, "hello: agent_version must be at most 64 printable ASCII characters"});
      auto models = ToRecords(msg.hello().models());
      if (!models) return Refuse(models.error().Wrap("hello"));
      hello_seen_ = true;
      report.agent_version = agent_version;
      report.stream = handle_->stream_id;
      ctx_.live_streams.insert(handle_->stream_id);
      // A revoke before the batch is written finds this stream here (DisconnectDevice).
      ctx_.pending_hellos.emplace(peer_.id.name, handle_);
      report.models = std::move(*models);
      return Persist(std::move(report), [this](const AgentReportOutcome& outcome) {
        if (!ctx_.ForgetPendingHello(peer_.id.name, handle_.get())) return;  // closed meanwhile
        if (!outcome.status) return Refuse(outcome.status.error().Wrap("hello"));
        OnHelloStored();
      });
    }
    if (!msg.has_status()) {
      FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unexpected message on Connect"));
      return;
    }
    auto models = ToRecords(msg.status().models());
    if (!models) return Refuse(models.error().Wrap("status report"));
    report.models = std::move(*models);
    if (msg.status().has_health()) {
      auto checked = CheckHealth(msg.status().health(), now);
      LogProblems("health report refused in part", checked.problems);
      report.health = std::move(checked.value);
    }
    if (msg.status().events_size() > 0) {
      auto checked = CheckEvents(msg.status().events());
      LogProblems("update event refused", checked.problems);
      report.events = std::move(checked.value);
    }
    Persist(std::move(report), [this](const AgentReportOutcome& outcome) {
      if (!outcome.status) {
        if (outcome.status.error().code == ErrorCode::kResourceExhausted)
          return Refuse(outcome.status.error().Wrap("status report"));
        // Not stored (the database failed): unacknowledged events come again with the next report.
        log::Error("cannot record report", {{"device", peer_.id.name}, {"error", outcome.status.error().message}});
      }
      if (outcome.events) AckEvents(*outcome.events);
      if (ctx_.rollouts) ctx_.rollouts->Poke(peer_.id.name);
      ReadNextWhenAllowed();
    });
  }

  // Hands `report` to the batch; `then` runs on the strand once it is written, if this stream
  // is still open then.
  void Persist(AgentReport report, std::function<void(const AgentReportOutcome&)> then) {
    ctx_.ingest.Add(std::move(report), [this, handle = handle_, then = std::move(then)](const AgentReportOutcome& outcome) {
      std::lock_guard lock(handle->mu);
      if (!handle->reactor || Finished()) return;
      then(outcome);
    });
  }

  // The hello is stored: the stream becomes the device's session and gets its desired state.
  void OnHelloStored() {
    auto previous = ctx_.sessions.find(peer_.id.name);
    if (previous != ctx_.sessions.end() && previous->second != handle_) {
      auto old = previous->second;
      // Close() locks the other handle's mutex, never ours.
      old->Close(static_cast<int>(grpc::StatusCode::ABORTED), "replaced by a newer connection");
    }
    ctx_.sessions[peer_.id.name] = handle_;
    ctx_.SessionsChanged();
    log::Info("agent connected", {{"device", peer_.id.name}});
    if (ctx_.rollouts) ctx_.rollouts->Poke(peer_.id.name, true);  // a device new to a standing target
    auto desired = ctx_.DesiredStateFor(peer_.id.name);
    if (desired) Enqueue(*desired);
    ReadNextWhenAllowed();
  }

  // Reads the next message now, or once the stream's rate allows (StartRead is safe from any
  // thread). Strand only, with handle_->mu held.
  void ReadNextWhenAllowed() {
    const auto wait = rate_.Take(std::chrono::steady_clock::now());
    if (wait == std::chrono::steady_clock::duration::zero()) {
      StartReadIfOpen();
      return;
    }
    if (!throttled_logged_) {
      throttled_logged_ = true;
      log::Warn("agent reports too often; reading its stream slower", {{"device", peer_.id.name}});
    }
    After(wait, [this] { StartReadIfOpen(); });
  }

  // Runs `fn` on the strand after `delay`, if the reactor is still alive then.
  template <typename Fn>
  void After(std::chrono::steady_clock::duration delay, Fn fn) {
    auto timer = std::make_shared<boost::asio::steady_timer>(ctx_.strand, delay);
    timer->async_wait([&ctx = ctx_, timer, handle = handle_, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (ec) return;  // cancelled: the stream ended
      ctx.urgent.RunWaiting();  // before taking the stream's lock (the reactor may be gone)
      std::lock_guard lock(handle->mu);
      if (handle->reactor) fn();
    });
    // Registered on the strand, where OnDone's cleanup runs too.
    boost::asio::dispatch(ctx_.strand, [handle = handle_, timer] {
      std::erase_if(handle->timers, [](const auto& t) { return t.use_count() == 1; });
      handle->timers.push_back(timer);
    });
  }

  // Ends the stream: the device sent something that must not be stored.
  void Refuse(const Error& e) {
    log::Warn("agent report refused", {{"device", peer_.id.name}, {"error", e.message}});
    FinishOnce(tls::ToGrpcStatus(e));
  }

  // A few lines per report at most: a broken agent reporting every few seconds must not
  // flood the log.
  void LogProblems(const char* what, const std::vector<std::string>& problems) {
    constexpr size_t kMaxLines = 5;
    for (size_t i = 0; i < problems.size() && i < kMaxLines; ++i)
      log::Warn(what, {{"device", peer_.id.name}, {"problem", problems[i]}});
    if (problems.size() > kMaxLines)
      log::Warn(what, {{"device", peer_.id.name}, {"problem", std::to_string(problems.size() - kMaxLines) + " more"}});
  }

  // Acknowledges the highest seq stored for the device. Nothing is acknowledged when the
  // store failed: the agent keeps the events and sends them again.
  void AckEvents(const EventsRecorded& stored) {
    if (stored.inserted > 0)
      log::Info("update events stored", {{"device", peer_.id.name}, {"new", stored.inserted},
                                         {"duplicates", stored.duplicates}, {"up_to_seq", stored.max_seq}});
    ControllerMessage ack;
    ack.mutable_ack()->set_up_to_seq(stored.max_seq);
    Enqueue(ack);
  }

  ControllerContext& ctx_;
  tls::PeerIdentity peer_;
  std::shared_ptr<Handle> handle_;
  AgentMessage in_;
  bool hello_seen_ = false;  // strand only
  TokenBucket rate_;         // strand only
  bool throttled_logged_ = false;
  std::mutex mu_;
  std::deque<ControllerMessage> queue_;
  bool writing_ = false;
  bool finished_ = false;
};

class FetchBlobReactor final : public grpc::ServerWriteReactor<edge::v1::BlobChunk> {
 public:
  FetchBlobReactor(ControllerContext& ctx, tls::PeerIdentity peer, edge::v1::FetchBlobRequest request)
      : ctx_(ctx), started_(std::chrono::steady_clock::now()) {
    if (!IsDigest(request.digest())) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "digest must be 64 lower-case hex characters"));
      return;
    }
    if (!ctx_.agent_work.TryAcquire()) {
      Finish(Busy(ctx_.agent_work));
      return;
    }
    ctx_.urgent.PostOrdinary([this, peer = std::move(peer), request = std::move(request)] {
      ctx_.agent_work.Release();
      if (auto s = CheckDevice(ctx_, peer); !s) return Finish(tls::ToGrpcStatus(s.error()));
      std::erase_if(ctx_.transfers, [](const auto& entry) { return entry.second.expired(); });
      ctx_.transfers.emplace(peer.id.name, revoked_);
      auto size = ctx_.store->BlobSizeForDevice(peer.id.name, request.digest());
      if (!size) return Finish(tls::ToGrpcStatus(size.error()));
      if (!*size)
        return Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                   "blob " + request.digest() + " is not part of any version desired for device " + peer.id.name));
      total_ = **size;
      if (request.offset() > total_)
        return Finish(grpc::Status(grpc::StatusCode::OUT_OF_RANGE, "offset " + std::to_string(request.offset()) +
                                                                       " is past the blob's size " + std::to_string(total_)));
      const auto path = ctx_.BlobPath(request.digest());
      fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd_ < 0) return Finish(grpc::Status(grpc::StatusCode::INTERNAL, "blob " + request.digest() + " is missing from the store"));
      offset_ = request.offset();
      log::Info("blob fetch", {{"device", peer.id.name}, {"digest", request.digest()}, {"offset", offset_},
                               {"size", total_}});
      SendNext();
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
    SendNext();
  }

  void OnDone() override {
    if (fd_ >= 0) ::close(fd_);
    delete this;
  }

 private:
  void SendNext() {
    if (offset_ >= total_) return Finish(grpc::Status::OK);
    if (revoked_->load()) return Finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "device revoked"));
    if (std::chrono::steady_clock::now() - started_ > kFetchDeadline)
      return Finish(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "blob transfer took longer than 30 min; resume from the offset reached"));
    const size_t want = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, total_ - offset_));
    std::string buf(want, '\0');
    ssize_t n = ::pread(fd_, buf.data(), want, static_cast<off_t>(offset_));
    if (n <= 0) return Finish(grpc::Status(grpc::StatusCode::INTERNAL, "cannot read blob from the store"));
    buf.resize(static_cast<size_t>(n));
    chunk_.Clear();
    chunk_.set_offset(offset_);
    chunk_.set_total_size(total_);
    chunk_.set_data(std::move(buf));
    offset_ += static_cast<uint64_t>(n);
    ctx_.metrics.blob_bytes_served.Add(static_cast<double>(n));
    StartWrite(&chunk_);
  }

  ControllerContext& ctx_;
  std::chrono::steady_clock::time_point started_;
  std::shared_ptr<std::atomic<bool>> revoked_ = std::make_shared<std::atomic<bool>>(false);
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint64_t total_ = 0;
  edge::v1::BlobChunk chunk_;
};

class AgentServiceImpl final : public edge::v1::AgentService::CallbackService {
 public:
  explicit AgentServiceImpl(ControllerContext& ctx) : ctx_(ctx) {}

  grpc::ServerBidiReactor<AgentMessage, ControllerMessage>* Connect(grpc::CallbackServerContext* call) override {
    auto peer = tls::PeerIdentityOf(*call, ctx_.config.fleet, "device");
    if (!peer) return Rejected<grpc::ServerBidiReactor<AgentMessage, ControllerMessage>>(tls::ToGrpcStatus(peer.error()));
    return new ConnectReactor(ctx_, std::move(*peer));
  }

  grpc::ServerWriteReactor<edge::v1::BlobChunk>* FetchBlob(grpc::CallbackServerContext* call,
                                                           const edge::v1::FetchBlobRequest* request) override {
    auto peer = tls::PeerIdentityOf(*call, ctx_.config.fleet, "device");
    if (!peer) return Rejected<grpc::ServerWriteReactor<edge::v1::BlobChunk>>(tls::ToGrpcStatus(peer.error()));
    return new FetchBlobReactor(ctx_, std::move(*peer), *request);
  }

  grpc::ServerUnaryReactor* RenewCertificate(grpc::CallbackServerContext* call,
                                             const edge::v1::RenewCertificateRequest* request,
                                             edge::v1::RenewCertificateResponse* response) override {
    auto peer = tls::PeerIdentityOf(*call, ctx_.config.fleet, "device");
    return FinishOnStrand(ctx_, Lane::kFleet, ctx_.agent_work, call, [this, peer, request, response]() -> grpc::Status {
      if (!peer) return tls::ToGrpcStatus(peer.error());
      auto cert = Renew(*peer, request->csr_pem());
      if (!cert) {
        log::Warn("certificate renewal refused", {{"device", peer->id.name}, {"error", cert.error().message}});
        return tls::ToGrpcStatus(cert.error());
      }
      response->set_certificate_pem(*cert);
      return grpc::Status::OK;
    });
  }

 private:
  // The renewal rule: only the device's current, undenied certificate may renew, once, and only
  // in the second half of its lifetime (agents renew at two thirds). The replaced serial is
  // denied in the same transaction. So a copy of a device's key can neither renew after the
  // device has, nor chain renewals, and if the copy renews first the device is refused at once
  // with a message that says its key may have been copied.
  Result<std::string> Renew(const tls::PeerIdentity& peer, const std::string& csr_pem) {
    EDGE_TRY(CheckDevice(ctx_, peer));
    const auto now = ctx_.clock.NowUnix();
    const int64_t half = peer.not_before + (peer.not_after - peer.not_before) / 2;
    if (now < half)
      return Fail(ErrorCode::kFailedPrecondition, "certificate " + peer.cert_serial + " may be renewed from " +
                                                      std::to_string(half) + " (half its lifetime), not before");
    crypto::CertSpec spec;
    spec.common_name = peer.id.name;
    spec.uri_sans = {peer.id.ToString()};
    spec.client_auth = true;
    spec.validity = std::chrono::seconds(ctx_.config.device_cert_ttl_seconds);
    // Clock-skew allowance, kept small against short lifetimes so 2/3-of-life renewal works.
    spec.backdate = std::min<std::chrono::seconds>(spec.backdate, spec.validity / 10);
    auto cert = crypto::IssueFromCsr({ctx_.fleet_ca_pem, &ctx_.fleet_ca_key}, csr_pem, spec);
    if (!cert) return Fail(ErrorCode::kInvalidArgument, "bad CSR: " + cert.error().message);
    EDGE_ASSIGN_OR_RETURN(auto info, crypto::ParseCertificate(*cert));
    EDGE_TRY(ctx_.store->RenewDeviceCert(peer.id.name, peer.cert_serial, info.serial_hex, info.not_after, now));
    log::Info("certificate renewed", {{"device", peer.id.name}, {"serial", info.serial_hex}, {"replaces", peer.cert_serial}});
    return *cert;
  }

  ControllerContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAgentService(ControllerContext& ctx) {
  return std::make_unique<AgentServiceImpl>(ctx);
}

}  // namespace edge::controller
