// The agent's gRPC adapter: enrollment, the Connect stream and blob downloads. It does no
// decision-making: received desired states are handed to a callback, and the daemon decides.
#pragma once

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <set>
#include <thread>
#include <vector>

#include "agent/core/backoff.h"
#include "common/core/result.h"
#include "common/tls/connect_timeouts.h"
#include "edge/v1/agent.grpc.pb.h"

namespace edge::agent {

struct EnrollParams {
  // host:port of the enrollment listener; with several controllers, each is tried in turn
  // while the one before cannot be reached.
  std::vector<std::string> endpoints;
  std::string ca_pem;       // fleet CA (pinned out of band)
  std::string token;
  std::string device_name;
  std::string csr_pem;
  std::chrono::milliseconds connect_timeout = tls::kDefaultConnectTimeout;  // per connection attempt
};
Result<edge::v1::EnrollResponse> Enroll(const EnrollParams& params);

struct LinkIdentity {
  // host:port of the agent listener. With several controllers, the link starts at a random one
  // and moves to the next after each stream ends or fails: a dead controller's agents move to
  // the others, and a controller back from a restart gets its share again as streams renew.
  std::vector<std::string> endpoints;
  std::string ca_pem;
  std::string cert_pem;
  std::string key_pem;
  std::chrono::milliseconds connect_timeout = tls::kDefaultConnectTimeout;  // per connection attempt
};

class ControllerLink {
 public:
  using DesiredCallback = std::function<void(edge::v1::DesiredState)>;
  // The controller has stored every update event up to this sequence number.
  using AckCallback = std::function<void(uint64_t up_to_seq)>;
  using StateCallback = std::function<void(bool connected, const std::string& detail)>;
  // Returns the hello to send on each (re)connect.
  // Called on the link thread; must not block on the daemon's loop.
  using HelloProvider = std::function<edge::v1::Hello()>;

  ControllerLink(LinkIdentity identity, HelloProvider hello, DesiredCallback on_desired, AckCallback on_ack,
                 StateCallback on_state, Backoff backoff);
  ~ControllerLink();

  // Starts the connect loop on its own thread: connect, hello, read desired states; on any
  // error wait the backoff's next (jittered) delay and reconnect.
  void Start();
  void Stop();
  // Asks the controller for a certificate for the key behind `csr_pem` (unary, 20 s deadline).
  Result<std::string> RenewCertificate(const std::string& csr_pem);
  // Switches to a renewed certificate: later connections use it, and the current stream is
  // ended so that the controller sees the new certificate at once.
  void UpdateIdentity(const std::string& cert_pem, const std::string& key_pem);
  // Queues a status report for the stream's writer thread if connected (a report not yet sent
  // is replaced); dropped otherwise (the next hello carries the state). Never blocks on the
  // network: the agent's loop, which pings the watchdog, calls it.
  void SendStatus(const edge::v1::StatusReport& report);

  // Downloads `digest` into `partial` starting at the file's current size (resume), calling
  // `progress(bytes_on_disk)` per chunk. Caps throughput at `rate_limit` bytes/s when non-zero.
  // Fails if the server sends more than `expected_size` bytes in total.
  Status FetchBlob(const std::string& digest, uint64_t expected_size, const std::filesystem::path& partial,
                   uint64_t rate_limit, const std::function<void(uint64_t)>& progress,
                   const std::atomic<bool>& cancel);

 private:
  void Run();
  // Sends pending_ on `stream` until the stream ends or writer_stop_ (one thread per stream).
  void WriteLoop(grpc::ClientReaderWriter<edge::v1::AgentMessage, edge::v1::ControllerMessage>* stream);
  // The endpoint the next connection goes to.
  size_t endpoint_ = 0;
  // A fresh channel: a stuck subchannel (seen after a controller restart) is never reused.
  void Reconnect();
  std::shared_ptr<edge::v1::AgentService::Stub> CurrentStub();

  LinkIdentity identity_;
  HelloProvider hello_;
  DesiredCallback on_desired_;
  AckCallback on_ack_;
  StateCallback on_state_;
  Backoff backoff_;
  std::shared_ptr<edge::v1::AgentService::Stub> stub_;  // guarded by mu_
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;  // guards stub_, stream_ and context_
  grpc::ClientContext* context_ = nullptr;
  std::set<grpc::ClientContext*> fetches_;  // in-flight FetchBlob calls, cancelled by Stop()
  grpc::ClientReaderWriter<edge::v1::AgentMessage, edge::v1::ControllerMessage>* stream_ = nullptr;
  std::optional<edge::v1::AgentMessage> pending_;  // the next report to send; guarded by mu_
  bool writer_stop_ = false;                        // guarded by mu_
  std::condition_variable send_cv_;
  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
};

}  // namespace edge::agent
