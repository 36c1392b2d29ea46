// State shared by the controller's gRPC services. The store and the session registry are
// touched only on `strand`: gRPC callbacks post their work there, so the logic runs on one
// thread and needs no locks (DESIGN §2a). Immutable members (trust policy, CA) are read from
// any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "common/bundle/bundle.h"
#include "common/core/clock.h"
#include "common/crypto/x509.h"
#include "common/crypto/ed25519.h"
#include "controller/api/controller_metrics.h"
#include "controller/api/limits.h"
#include "controller/api/report_ingest.h"
#include "controller/api/urgent_lane.h"
#include "controller/daemon/config.h"
#include "controller/store/store.h"
#include "edge/v1/agent.pb.h"

namespace edge::controller {

// A connected agent's stream, as seen from the strand. Send() is thread-safe and a no-op once
// the stream has ended.
class AgentStreamHandle {
 public:
  virtual ~AgentStreamHandle() = default;
  virtual void Send(const edge::v1::ControllerMessage& message) = 0;
  // Ends the stream with gRPC status `code` and `message` (no-op once ended).
  virtual void Close(int code, const std::string& message) = 0;
  // This controller's number for the stream (its session row names it).
  virtual uint64_t stream() const { return 0; }
};

// The trust policy the controller serves: replaced as a whole when an admin pushes a newer
// one, so readers on any thread take a snapshot.
struct TrustState {
  std::string envelope;  // exact bytes, sent to agents
  bundle::TrustPolicy policy;
};

struct ControllerContext;
class Cluster;
class RolloutDriver;

// Verifies a trust policy envelope the controller is to serve: signed by the release root,
// for this fleet, and (unless `allow_expired`) not expired at `now`.
Result<std::shared_ptr<const TrustState>> VerifyServedPolicy(const ControllerContext& ctx, std::string_view envelope,
                                                             int64_t now, bool allow_expired = false);

// Whether `trust` has expired at `now` (an expired served policy makes agents refuse every
// install and new gateways refuse to enroll: the controller says so instead of pretending).
inline bool Expired(const TrustState& trust, int64_t now) { return trust.policy.expires && *trust.policy.expires <= now; }

// Which trust policy to serve: the higher version of the config file's (`file`) and the newest
// one admins pushed (`stored`, may be null), both already verified against the root (expiry
// aside). Never a lower version because the higher one expired: that would trust again a key
// the newer policy removed. A file that is the highest and has expired is a bad configuration.
Result<std::shared_ptr<const TrustState>> ChooseServedPolicy(std::shared_ptr<const TrustState> file,
                                                             std::shared_ptr<const TrustState> stored, int64_t now);

struct ControllerContext {
  ControllerContext(ControllerConfig cfg, boost::asio::io_context& io_context, std::unique_ptr<Store> s,
                    const Clock& c, metrics::Registry& registry = metrics::Discard())
      : config(std::move(cfg)), io(io_context), strand(boost::asio::make_strand(io_context)),
        store(std::move(s)), clock(c), metrics(registry) {}

  ControllerConfig config;
  boost::asio::io_context& io;
  boost::asio::strand<boost::asio::io_context::executor_type> strand;
  std::unique_ptr<Store> store;  // strand only
  const Clock& clock;
  ControllerMetrics metrics;
  // Operators' calls ahead of the fleet's work on the strand.
  UrgentLane urgent{strand};
  // Agents' reports, written in batches (strand only).
  ReportIngest ingest{strand, store, {}, [this] { urgent.RunWaiting(); }};

  std::shared_ptr<const TrustState> Trust() const {
    std::lock_guard lock(trust_mu_);
    return trust_;
  }
  void SetTrust(std::shared_ptr<const TrustState> trust) {
    std::lock_guard lock(trust_mu_);
    trust_ = std::move(trust);
  }
  crypto::Ed25519PublicKey release_root{};
  std::string fleet_ca_pem;
  crypto::PrivateKey fleet_ca_key;
  std::filesystem::path blob_dir;  // <data_dir>/blobs/sha256

  RolloutDriver* rollouts = nullptr;  // strand only; set by the daemon
  Cluster* cluster = nullptr;         // strand only; set by the daemon with several controllers
  std::map<std::string, std::shared_ptr<AgentStreamHandle>> sessions;  // strand only
  // Numbers this controller's agent streams (any thread): a session row names its stream.
  std::atomic<uint64_t> next_stream{1};
  // Streams that sent their hello and have not ended, sessions or not yet (strand only).
  std::set<uint64_t> live_streams;
  // Streams whose hello passed its checks and waits for its batch (strand only): not sessions
  // yet, so a revoke in that window finds them here rather than in `sessions`.
  std::multimap<std::string, std::shared_ptr<AgentStreamHandle>> pending_hellos;
  // Flags of a device's blob transfers in flight, set when it is revoked (strand only).
  std::multimap<std::string, std::weak_ptr<std::atomic<bool>>> transfers;

  // Calls that may wait for the strand, per listener (see WorkQueueLimit).
  WorkQueueLimit agent_work{256};
  WorkQueueLimit enroll_work{32};
  WorkQueueLimit operator_work{64};
  // Failed enrollments per source address: 5 in a burst, then one every 6 s.
  FailureLimiter enroll_failures{1.0 / 6, 5};
  // The client address behind a gRPC peer string. Replaced by the connection front, whose
  // upstream connections all come from loopback.
  std::function<std::string(const std::string& grpc_peer)> source_of = SourceAddressOf;

  std::filesystem::path BlobPath(const std::string& digest) const { return blob_dir / digest; }
  // Builds the desired state for `device_id` (strand only).
  Result<edge::v1::ControllerMessage> DesiredStateFor(const std::string& device_id);
  // Sends the current desired state to each listed device that is connected (strand only).
  void NotifyDevices(const std::vector<std::string>& device_ids);
  // Ends the device's stream, the streams whose hello waits for its batch, and its blob
  // transfers at once (strand only): it was revoked.
  void DisconnectDevice(const std::string& device_id, const std::string& why);
  // Takes `handle` out of `pending_hellos` (strand only); false if it was not there.
  bool ForgetPendingHello(const std::string& device_id, const AgentStreamHandle* handle);
  // The device's stream `stream` ended (strand only): with several controllers, its session row
  // goes (in the report batch, after the stream's hello).
  void SessionEnded(const std::string& device_id, uint64_t stream);
  // Whether the device is connected to this controller or, with several, to any live one
  // (strand only; what other controllers hold is at most a second old).
  bool Online(const std::string& device_id);
  // Serves the newest trust policy in the store if it is newer than the served one, and sends
  // it to every connected agent (strand only): another controller took it from an admin.
  Status AdoptStoredTrust();
  // After `sessions` changed (strand only): the connected-agents gauge follows.
  void SessionsChanged() { metrics.connected_agents.Set(static_cast<double>(sessions.size())); }
  // Sets the rollout and device-state gauges from the store (strand only).
  void RefreshStateGauges();

 private:
  mutable std::mutex trust_mu_;
  std::shared_ptr<const TrustState> trust_;
};

}  // namespace edge::controller
