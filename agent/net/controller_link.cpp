#include "agent/net/controller_link.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <condition_variable>
#include <random>

#include "common/core/fs.h"
#include "common/core/log.h"
#include "common/tls/connect_timeouts.h"
#include "common/tls/grpc_tls.h"

namespace edge::agent {

namespace {
constexpr auto kStreamLifetime = std::chrono::minutes(30);

// gRPC says that a connection did not come up, not which limit ended it: when it was the
// connect timeout, name the key that sets it, so that a gateway on a slow link can be fixed
// from its log.
Error WithConnectHint(Error e, const grpc::Status& status, std::chrono::steady_clock::duration elapsed,
                      std::chrono::milliseconds connect_timeout) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE && tls::EndedByConnectTimeout(elapsed, connect_timeout))
    e.message += " (no connection within connect_timeout_ms = " + std::to_string(connect_timeout.count()) +
                 " ms: " + std::string(tls::kConnectTimeoutTooShort) + "; raise it)";
  return e;
}
}  // namespace

// One enrollment attempt at `endpoint`.
static Result<edge::v1::EnrollResponse> EnrollAt(const EnrollParams& p, const std::string& endpoint) {
  auto channel = grpc::CreateCustomChannel(endpoint, tls::ClientCredentials({p.ca_pem, "", ""}),
                                           tls::ClientChannelArgs(p.connect_timeout));
  auto stub = edge::v1::EnrollmentService::NewStub(channel);
  edge::v1::EnrollRequest req;
  req.set_token(p.token);
  req.set_device_name(p.device_name);
  req.set_csr_pem(p.csr_pem);
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  req.mutable_facts()->set_hostname(host);
#if defined(__x86_64__)
  req.mutable_facts()->set_arch("x86_64");
#elif defined(__aarch64__)
  req.mutable_facts()->set_arch("aarch64");
#endif
  req.mutable_facts()->set_os("linux");
  req.mutable_facts()->set_memory_bytes(static_cast<uint64_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)));
  grpc::ClientContext ctx;
  // 20 s for the call, on top of what connecting may take.
  ctx.set_deadline(std::chrono::system_clock::now() + p.connect_timeout + std::chrono::seconds(20));
  edge::v1::EnrollResponse resp;
  const auto started = std::chrono::steady_clock::now();
  auto status = stub->Enroll(&ctx, req, &resp);
  if (!status.ok())
    return Fail(WithConnectHint(tls::FromGrpcStatus(status, "enrolling at " + endpoint), status,
                                std::chrono::steady_clock::now() - started, p.connect_timeout));
  return resp;
}

Result<edge::v1::EnrollResponse> Enroll(const EnrollParams& p) {
  if (p.endpoints.empty()) return Fail(ErrorCode::kBadConfig, "no enrollment endpoint");
  // From a random one of several: a fleet enrolling at once spreads over the controllers.
  const size_t first = std::random_device()() % p.endpoints.size();
  for (size_t i = 0;; ++i) {
    const auto& endpoint = p.endpoints[(first + i) % p.endpoints.size()];
    auto enrolled = EnrollAt(p, endpoint);
    // Only a controller that could not be reached sends the request on to the next one.
    if (enrolled || i + 1 == p.endpoints.size() ||
        (enrolled.error().code != ErrorCode::kUnavailable && enrolled.error().code != ErrorCode::kDeadlineExceeded))
      return enrolled;
    log::Warn("enrollment endpoint unreachable, trying the next", {{"endpoint", endpoint}, {"error", enrolled.error().message}});
  }
}

ControllerLink::ControllerLink(LinkIdentity identity, HelloProvider hello, DesiredCallback on_desired,
                               AckCallback on_ack, StateCallback on_state, Backoff backoff)
    : identity_(std::move(identity)), hello_(std::move(hello)), on_desired_(std::move(on_desired)),
      on_ack_(std::move(on_ack)), on_state_(std::move(on_state)), backoff_(std::move(backoff)) {
  if (identity_.endpoints.empty()) identity_.endpoints.push_back("");  // fails to connect, and says so
  endpoint_ = std::random_device()() % identity_.endpoints.size();
  Reconnect();
}

void ControllerLink::Reconnect() {
  std::lock_guard lock(mu_);
  auto channel = grpc::CreateCustomChannel(
      identity_.endpoints[endpoint_], tls::ClientCredentials({identity_.ca_pem, identity_.cert_pem, identity_.key_pem}),
      tls::ClientChannelArgs(identity_.connect_timeout));
  stub_ = edge::v1::AgentService::NewStub(channel);
}

Result<std::string> ControllerLink::RenewCertificate(const std::string& csr_pem) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  edge::v1::RenewCertificateRequest req;
  req.set_csr_pem(csr_pem);
  edge::v1::RenewCertificateResponse resp;
  auto status = CurrentStub()->RenewCertificate(&ctx, req, &resp);
  if (!status.ok()) return Fail(tls::FromGrpcStatus(status, "renewing certificate"));
  return resp.certificate_pem();
}

void ControllerLink::UpdateIdentity(const std::string& cert_pem, const std::string& key_pem) {
  {
    std::lock_guard lock(mu_);
    identity_.cert_pem = cert_pem;
    identity_.key_pem = key_pem;
  }
  Reconnect();
  std::lock_guard lock(mu_);
  if (context_) context_->TryCancel();
}

std::shared_ptr<edge::v1::AgentService::Stub> ControllerLink::CurrentStub() {
  std::lock_guard lock(mu_);
  return stub_;
}

ControllerLink::~ControllerLink() { Stop(); }

void ControllerLink::Start() { thread_ = std::thread([this] { Run(); }); }

void ControllerLink::Stop() {
  stopping_ = true;
  {
    std::lock_guard lock(mu_);
    if (context_) context_->TryCancel();
    for (auto* fetch : fetches_) fetch->TryCancel();
  }
  sleep_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void ControllerLink::SendStatus(const edge::v1::StatusReport& report) {
  std::lock_guard lock(mu_);
  if (!stream_) return;
  // The stream's writer thread sends it; a report not yet sent is replaced (each is a full
  // snapshot, and outcomes are sent again until acknowledged). The caller never waits on the
  // network, whatever the controller's flow control does.
  pending_.emplace();
  *pending_->mutable_status() = report;
  send_cv_.notify_all();
}

void ControllerLink::WriteLoop(grpc::ClientReaderWriter<edge::v1::AgentMessage, edge::v1::ControllerMessage>* stream) {
  for (;;) {
    edge::v1::AgentMessage msg;
    {
      std::unique_lock lock(mu_);
      send_cv_.wait(lock, [this] { return pending_.has_value() || writer_stop_; });
      if (writer_stop_) return;
      msg = std::move(*pending_);
      pending_.reset();
    }
    if (!stream->Write(msg)) return;  // the stream is over; the read side sees it too
  }
}

void ControllerLink::Run() {
  while (!stopping_) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + kStreamLifetime);
    const auto started = std::chrono::steady_clock::now();
    auto stream = CurrentStub()->Connect(&ctx);
    edge::v1::AgentMessage hello;
    *hello.mutable_hello() = hello_();
    bool got_message = false;
    {
      std::lock_guard lock(mu_);
      context_ = &ctx;
      if (stopping_) ctx.TryCancel();
    }
    std::thread writer;
    if (stream->Write(hello)) {
      {
        std::lock_guard lock(mu_);
        stream_ = stream.get();
        writer_stop_ = false;
        pending_.reset();
      }
      writer = std::thread([this, s = stream.get()] { WriteLoop(s); });
      edge::v1::ControllerMessage in;
      while (stream->Read(&in)) {
        if (!got_message) {
          got_message = true;
          on_state_(true, "");
        }
        if (in.has_desired()) on_desired_(in.desired());
        if (in.has_ack()) on_ack_(in.ack().up_to_seq());
      }
    }
    {
      std::lock_guard lock(mu_);
      stream_ = nullptr;
      context_ = nullptr;
      writer_stop_ = true;
      pending_.reset();
    }
    send_cv_.notify_all();
    if (writer.joinable()) writer.join();  // a write in flight fails now that the call has ended
    auto status = stream->Finish();
    if (stopping_) break;
    // A stream that delivered messages was healthy: start the backoff over.
    if (got_message) backoff_.Reset();
    std::string detail = "stream ended";
    if (!status.ok()) {
      auto e = tls::FromGrpcStatus(status, "connect");
      const auto elapsed = std::chrono::steady_clock::now() - started;
      // A stream that delivered messages had connected.
      detail = (got_message ? e : WithConnectHint(e, status, elapsed, identity_.connect_timeout)).message;
    }
    on_state_(false, detail);
    if (identity_.endpoints.size() > 1) {
      // The next controller: this one may be gone, and renewing streams spreads them.
      {
        std::lock_guard lock(mu_);
        endpoint_ = (endpoint_ + 1) % identity_.endpoints.size();
      }
      Reconnect();
    } else if (!got_message) {
      Reconnect();
    }
    const auto delay = backoff_.NextDelay();
    log::Info("controller link down, retrying",
              {{"detail", detail}, {"retry_in_ms", delay.count()}, {"next_endpoint", identity_.endpoints[endpoint_]}});
    std::unique_lock lock(sleep_mu_);
    sleep_cv_.wait_for(lock, delay, [this] { return stopping_.load(); });
  }
}

Status ControllerLink::FetchBlob(const std::string& digest, uint64_t expected_size, const std::filesystem::path& partial,
                                 uint64_t rate_limit, const std::function<void(uint64_t)>& progress,
                                 const std::atomic<bool>& cancel) {
  int fd = ::open(partial.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return Fail(ErrorCode::kIo, "cannot open " + partial.string() + ": " + fs::ErrnoText(errno));
  struct stat st {};
  ::fstat(fd, &st);
  uint64_t offset = static_cast<uint64_t>(st.st_size);
  if (offset > expected_size) {
    // Longer than the manifest allows: corrupt, start over.
    if (::ftruncate(fd, 0) != 0) {
      ::close(fd);
      return Fail(ErrorCode::kIo, "cannot truncate " + partial.string());
    }
    offset = 0;
  }
  if (offset > 0) log::Info("resuming download", {{"digest", digest}, {"offset", offset}, {"size", expected_size}});
  if (offset == expected_size) {
    ::close(fd);
    return Ok();
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
  edge::v1::FetchBlobRequest req;
  req.set_digest(digest);
  req.set_offset(offset);
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      ::close(fd);
      return Fail(ErrorCode::kUnavailable, "agent is stopping");
    }
    fetches_.insert(&ctx);
  }
  struct Unregister {
    ControllerLink* link;
    grpc::ClientContext* ctx;
    ~Unregister() {
      std::lock_guard lock(link->mu_);
      link->fetches_.erase(ctx);
    }
  } unregister{this, &ctx};
  auto reader = CurrentStub()->FetchBlob(&ctx, req);
  edge::v1::BlobChunk chunk;
  const auto started = std::chrono::steady_clock::now();
  uint64_t received = 0;
  Status result = Ok();
  while (reader->Read(&chunk)) {
    if (cancel) {
      ctx.TryCancel();
      result = Fail(ErrorCode::kUnavailable, "download cancelled");
      break;
    }
    if (chunk.offset() != offset || offset + chunk.data().size() > expected_size) {
      ctx.TryCancel();
      result = Fail(ErrorCode::kDataLoss, "blob " + digest + ": server sent bytes beyond the declared size of " +
                                              std::to_string(expected_size) + " or out of order");
      break;
    }
    const auto& data = chunk.data();
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        ctx.TryCancel();
        ::close(fd);
        return Fail(ErrorCode::kIo, "cannot write " + partial.string() + ": " + fs::ErrnoText(errno));
      }
      off += static_cast<size_t>(n);
    }
    offset += data.size();
    received += data.size();
    progress(offset);
    if (rate_limit > 0) {
      const auto should_take = std::chrono::duration<double>(static_cast<double>(received) / static_cast<double>(rate_limit));
      const auto elapsed = std::chrono::steady_clock::now() - started;
      if (should_take > elapsed) std::this_thread::sleep_for(should_take - elapsed);
    }
  }
  auto status = reader->Finish();
  ::fsync(fd);
  ::close(fd);
  if (!result) return result;
  if (!status.ok()) return Fail(tls::FromGrpcStatus(status, "fetching blob " + digest));
  if (offset != expected_size)
    return Fail(ErrorCode::kDataLoss, "blob " + digest + " ended at " + std::to_string(offset) + " of " +
                                          std::to_string(expected_size) + " bytes (truncated)");
  return Ok();
}

}  // namespace edge::agent
