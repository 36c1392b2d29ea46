// AgentService: the device endpoint (mTLS, fleet CA). The device id is read from the client
// certificate on every call; no request field can name another device.
#include <fcntl.h>
#include <unistd.h>

#include <deque>
#include <mutex>

#include "common/core/log.h"
#include "common/tls/grpc_tls.h"
#include "controller/api/health_report.h"
#include "controller/api/services.h"
#include "edge/v1/agent.grpc.pb.h"

namespace edge::controller {
namespace {

using edge::v1::AgentMessage;
using edge::v1::ControllerMessage;

constexpr size_t kChunkBytes = 1 << 20;

// Checks the device in the certificate is enrolled, not revoked and presents its current
// certificate (strand only).
Status CheckDevice(ControllerContext& ctx, const tls::PeerIdentity& peer) {
  auto device = ctx.store->GetDevice(peer.id.name);
  if (!device) return Fail(ErrorCode::kUnauthenticated, "device " + peer.id.name + " is not enrolled");
  if (device->revoked) return Fail(ErrorCode::kPermissionDenied, "device " + peer.id.name + " is revoked");
  if (device->cert_serial != peer.cert_serial)
    return Fail(ErrorCode::kUnauthenticated, "certificate serial " + peer.cert_serial + " is not device " +
                                                 peer.id.name + "'s current certificate");
  return Ok();
}

std::vector<ReportedModelRecord> ToRecords(const google::protobuf::RepeatedPtrField<edge::v1::ModelStatus>& models) {
  std::vector<ReportedModelRecord> out;
  for (const auto& m : models) {
    if (!crypto::IsValidLabel(m.model()) || m.version().size() > 64 || m.state().size() > 32) continue;
    out.push_back({m.model(), m.version(), m.security_version(), m.state(), m.target_version(),
                   TruncateUtf8(m.detail(), 1024), m.bytes_done(), m.bytes_total(), m.security_floor(), 0});
  }
  return out;
}

class ConnectReactor final : public grpc::ServerBidiReactor<AgentMessage, ControllerMessage> {
 public:
  // Shared with the session registry; outlives the reactor.
  struct Handle final : AgentStreamHandle {
    std::mutex mu;
    ConnectReactor* reactor = nullptr;
    void Send(const ControllerMessage& m) override {
      std::lock_guard lock(mu);
      if (reactor) reactor->Enqueue(m);
    }
    void Close() override {
      std::lock_guard lock(mu);
      if (reactor) reactor->FinishOnce(grpc::Status(grpc::StatusCode::ABORTED, "replaced by a newer connection"));
    }
  };

  ConnectReactor(ControllerContext& ctx, tls::PeerIdentity peer)
      : ctx_(ctx), peer_(std::move(peer)), handle_(std::make_shared<Handle>()) {
    handle_->reactor = this;
    StartRead(&in_);
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

  void OnReadDone(bool ok) override {
    if (!ok) {
      FinishOnce(grpc::Status::OK);
      return;
    }
    AgentMessage msg = std::move(in_);
    boost::asio::post(ctx_.strand, [this, handle = handle_, msg = std::move(msg)] {
      // The reactor may have ended while this waited; `handle` tells.
      std::lock_guard lock(handle->mu);
      if (!handle->reactor) return;
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
    {
      std::lock_guard lock(handle_->mu);
      handle_->reactor = nullptr;
    }
    boost::asio::post(ctx_.strand, [&ctx = ctx_, id = peer_.id.name, handle = handle_] {
      auto it = ctx.sessions.find(id);
      if (it != ctx.sessions.end() && it->second == handle) {
        ctx.sessions.erase(it);
        log::Info("agent disconnected", {{"device", id}});
      }
    });
    delete this;
  }

 private:
  // Strand only, with handle_->mu held (so the reactor is alive).
  void HandleMessage(const AgentMessage& msg) {
    const auto now = ctx_.clock.NowUnix();
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
      hello_seen_ = true;
      (void)ctx_.store->RecordHello(peer_.id.name, msg.hello().agent_version().substr(0, 64), now);
      (void)ctx_.store->RecordReport(peer_.id.name, ToRecords(msg.hello().models()), now);
      auto previous = ctx_.sessions.find(peer_.id.name);
      if (previous != ctx_.sessions.end() && previous->second != handle_) {
        auto old = previous->second;
        // Close() locks the other handle's mutex, never ours.
        old->Close();
      }
      ctx_.sessions[peer_.id.name] = handle_;
      log::Info("agent connected", {{"device", peer_.id.name}});
      auto desired = ctx_.DesiredStateFor(peer_.id.name);
      if (desired) Enqueue(*desired);
    } else if (msg.has_status()) {
      if (auto s = ctx_.store->RecordReport(peer_.id.name, ToRecords(msg.status().models()), now); !s)
        log::Error("cannot record report", {{"device", peer_.id.name}, {"error", s.error().message}});
      if (msg.status().has_health()) StoreHealth(msg.status().health(), now);
      if (msg.status().events_size() > 0) StoreEvents(msg.status().events(), now);
    } else {
      FinishOnce(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "unexpected message on Connect"));
      return;
    }
    // Read the next message from the gRPC side; StartRead is safe from any thread.
    StartRead(&in_);
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

  void StoreHealth(const edge::v1::Health& health, int64_t now) {
    auto checked = CheckHealth(health, now);
    LogProblems("health report refused in part", checked.problems);
    if (!checked.value) return;
    if (auto s = ctx_.store->RecordHealth(peer_.id.name, *checked.value); !s)
      log::Error("cannot record health", {{"device", peer_.id.name}, {"error", s.error().message}});
  }

  // Stores the events, then acknowledges the highest seq stored for the device. Nothing is
  // acknowledged if the store failed: the agent keeps the events and sends them again.
  void StoreEvents(const google::protobuf::RepeatedPtrField<edge::v1::UpdateEvent>& events, int64_t now) {
    auto checked = CheckEvents(events);
    LogProblems("update event refused", checked.problems);
    auto stored = ctx_.store->RecordEvents(peer_.id.name, checked.value, now);
    if (!stored) {
      log::Error("cannot record update events", {{"device", peer_.id.name}, {"error", stored.error().message}});
      return;
    }
    if (stored->inserted > 0)
      log::Info("update events stored", {{"device", peer_.id.name}, {"new", stored->inserted},
                                         {"duplicates", stored->duplicates}, {"up_to_seq", stored->max_seq}});
    ControllerMessage ack;
    ack.mutable_ack()->set_up_to_seq(stored->max_seq);
    Enqueue(ack);
  }

  ControllerContext& ctx_;
  tls::PeerIdentity peer_;
  std::shared_ptr<Handle> handle_;
  AgentMessage in_;
  bool hello_seen_ = false;  // strand only
  std::mutex mu_;
  std::deque<ControllerMessage> queue_;
  bool writing_ = false;
  bool finished_ = false;
};

class FetchBlobReactor final : public grpc::ServerWriteReactor<edge::v1::BlobChunk> {
 public:
  FetchBlobReactor(ControllerContext& ctx, tls::PeerIdentity peer, edge::v1::FetchBlobRequest request) : ctx_(ctx) {
    if (!IsDigest(request.digest())) {
      Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "digest must be 64 lower-case hex characters"));
      return;
    }
    boost::asio::post(ctx_.strand, [this, peer = std::move(peer), request = std::move(request)] {
      if (auto s = CheckDevice(ctx_, peer); !s) return Finish(tls::ToGrpcStatus(s.error()));
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
    StartWrite(&chunk_);
  }

  ControllerContext& ctx_;
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
    return FinishOnStrand(ctx_, call, [this, peer, request, response]() -> grpc::Status {
      if (!peer) return tls::ToGrpcStatus(peer.error());
      if (auto s = CheckDevice(ctx_, *peer); !s) return tls::ToGrpcStatus(s.error());
      crypto::CertSpec spec;
      spec.common_name = peer->id.name;
      spec.uri_sans = {peer->id.ToString()};
      spec.client_auth = true;
      spec.validity = std::chrono::seconds(ctx_.config.device_cert_ttl_seconds);
    // Clock-skew allowance, kept small against short lifetimes so 2/3-of-life renewal works.
    spec.backdate = std::min<std::chrono::seconds>(spec.backdate, spec.validity / 10);
      auto cert = crypto::IssueFromCsr({ctx_.fleet_ca_pem, &ctx_.fleet_ca_key}, request->csr_pem(), spec);
      if (!cert) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad CSR: " + cert.error().message);
      auto info = crypto::ParseCertificate(*cert);
      if (!info) return tls::ToGrpcStatus(info.error());
      if (auto s = ctx_.store->UpdateDeviceCert(peer->id.name, info->serial_hex, info->not_after); !s)
        return tls::ToGrpcStatus(s.error());
      (void)ctx_.store->Audit({0, ctx_.clock.NowUnix(), "device/" + peer->id.name, "device.renew",
                               "device/" + peer->id.name, "serial=" + info->serial_hex});
      response->set_certificate_pem(*cert);
      return grpc::Status::OK;
    });
  }

 private:
  ControllerContext& ctx_;
};

}  // namespace

std::unique_ptr<grpc::Service> MakeAgentService(ControllerContext& ctx) {
  return std::make_unique<AgentServiceImpl>(ctx);
}

}  // namespace edge::controller
