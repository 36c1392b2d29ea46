// edgectl commands that talk to the controller's operator endpoint.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "common/core/result.h"
#include "controller/edgectl/context.h"
#include "controller/edgectl/output.h"

namespace edge::v1 {
class Device;
}

namespace grpc {
class Channel;
}

namespace edge::edgectl {

struct OperatorChannel {
  std::shared_ptr<grpc::Channel> channel;
  // What to add to an UNAVAILABLE error of a call on the channel: the likely causes.
  std::string unreachable_hint;
  std::string address;  // the controller it is connected to (of several, the first that answered)
};

// An mTLS channel to the context's controller with the context's operator certificate,
// connected (or given up on) within the context's connect timeout before it is returned, so
// that the deadlines of the calls on it count from a ready connection however slow the link.
// Before dialing, the context's files are read and checked (operator_tls.h: kBadConfig for an
// unreadable or unusable file or a key that is not the certificate's, kUnauthenticated for an
// expired or not yet valid certificate). A channel that could not connect is an error that names
// the failed step (operator_tls.h: unreachable, timed out, or a certificate refused).
Result<OperatorChannel> ConnectOperatorChannel(const Context& context);

struct GetFilters {
  std::string site;
  std::string selector;  // label selector (devices)
  std::string actor;   // e.g. operator/alice
  std::string action;  // e.g. rollout.create, CreateRollout
  std::string result;  // audit: ok, a refusal's code (permission_denied, ...), or refused (any but ok)
  uint32_t limit = 100;
};

class OperatorClient {
 public:
  static Result<std::unique_ptr<OperatorClient>> Connect(const Context& context);
  virtual ~OperatorClient() = default;

  virtual Status CreateSite(const std::string& name) = 0;
  virtual Status CreateToken(const std::string& site, int64_t ttl_seconds, OutputFormat format) = 0;
  virtual Status PushBundle(const std::filesystem::path& dir, OutputFormat format) = 0;
  // `filters` narrows what is listed: site (devices); actor, action, limit (audit).
  virtual Status Get(const std::string& what, const GetFilters& filters, OutputFormat format) = 0;
  virtual Status DescribeDevice(const std::string& id, OutputFormat format) = 0;
  // Every device `selector` matches, one after the other (a JSON array with -o json); no match
  // is kNotFound.
  virtual Status DescribeDevices(const std::string& selector, OutputFormat format) = 0;
};

// Parses "90", "90s", "15m", "2h", "7d" (at most a year). Zero ("0", "0s", ...) only with
// `allow_zero`.
Result<int64_t> ParseDurationSeconds(const std::string& text, bool allow_zero = false);

// A device's labels as "key=value,key2=value2", sorted by key; "" when it has none.
std::string LabelsText(const edge::v1::Device& device);

// The wall clock in unix seconds: what expiries, ages and timestamps are shown against.
int64_t NowUnix();

}  // namespace edge::edgectl
