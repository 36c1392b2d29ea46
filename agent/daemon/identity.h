// The device's identity (DESIGN §3): its key and certificate under <state_dir>/identity, made
// at enrollment and renewed once two thirds of the certificate's lifetime have passed. A
// renewal is crash-safe: the new key is written beside the old one, then the certificate, then
// the key is promoted; RecoverRenewal finishes or undoes whatever a crash interrupted.
#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include "agent/daemon/config.h"
#include "common/core/clock.h"
#include "common/core/result.h"
#include "edge/v1/agent.pb.h"

namespace edge::agent {

struct Identity {
  std::string device_id;
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;
};

struct RenewalRequest {
  std::string key_pem;  // the new key; it never leaves the device
  std::string csr_pem;
};

class IdentityManager {
 public:
  IdentityManager(const AgentConfig& config, const Clock& clock) : config_(config), clock_(clock) {}

  // The stored identity (after finishing an interrupted renewal), or a new one by enrollment
  // with the configured token. `adopt` checks the enrollment response (its trust policy must
  // verify against the pinned root) before any identity file is written.
  Result<Identity> LoadOrEnroll(const std::function<Status(const edge::v1::EnrollResponse&)>& adopt);
  // Whether two thirds of the certificate's lifetime have passed.
  bool RenewalDue() const;
  Result<RenewalRequest> MakeRenewalRequest() const;
  // Stores a renewed certificate with its key, crash-safe. The certificate must be for this device.
  Status InstallRenewed(const std::string& cert_pem, const std::string& key_pem);

  // Keeps identity/key.pem.next only if identity/cert.pem matches it.
  static Status RecoverRenewal(const std::filesystem::path& identity_dir);

 private:
  std::filesystem::path Dir() const { return config_.state_dir / "identity"; }

  const AgentConfig& config_;
  const Clock& clock_;
  int64_t not_before_ = 0;
  int64_t not_after_ = 0;
};

}  // namespace edge::agent
