// State shared by the controller's gRPC services. The store and the session registry are
// touched only on `strand`: gRPC callbacks post their work there, so the logic runs on one
// thread and needs no locks (DESIGN §2a). Immutable members (trust policy, CA) are read from
// any thread.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "common/bundle/bundle.h"
#include "common/core/clock.h"
#include "common/crypto/x509.h"
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
  virtual void Close() = 0;
};

struct ControllerContext {
  ControllerContext(ControllerConfig cfg, boost::asio::io_context& io_context, std::unique_ptr<Store> s,
                    const Clock& c)
      : config(std::move(cfg)), io(io_context), strand(boost::asio::make_strand(io_context)),
        store(std::move(s)), clock(c) {}

  ControllerConfig config;
  boost::asio::io_context& io;
  boost::asio::strand<boost::asio::io_context::executor_type> strand;
  std::unique_ptr<Store> store;  // strand only
  const Clock& clock;

  std::string trust_policy_envelope;  // exact bytes, sent to agents
  bundle::TrustPolicy trust_policy;
  std::string fleet_ca_pem;
  crypto::PrivateKey fleet_ca_key;
  std::filesystem::path blob_dir;  // <data_dir>/blobs/sha256

  std::map<std::string, std::shared_ptr<AgentStreamHandle>> sessions;  // strand only

  std::filesystem::path BlobPath(const std::string& digest) const { return blob_dir / digest; }
  // Builds the desired state for `device_id` (strand only).
  Result<edge::v1::ControllerMessage> DesiredStateFor(const std::string& device_id);
  // Sends the current desired state to each listed device that is connected (strand only).
  void NotifyDevices(const std::vector<std::string>& device_ids);
};

}  // namespace edge::controller
