#include "agent/core/trust_policy_check.h"

#include <ctime>

namespace edge::agent {
namespace {

std::string Rfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  if (!gmtime_r(&t, &tm)) return std::to_string(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string Version(uint64_t v) { return "v" + std::to_string(v); }

}  // namespace

StoredPolicyCheck ClassifyStoredPolicy(std::string_view envelope_bytes, const crypto::Ed25519PublicKey& root,
                                       int64_t now) {
  StoredPolicyCheck out;
  auto envelope = bundle::ParseEnvelope(envelope_bytes);
  if (!envelope) {
    out.problem = envelope.error().message;
    return out;
  }
  auto policy = bundle::VerifyTrustPolicySignature(*envelope, root);
  if (!policy) {
    out.problem = policy.error().message;
    return out;
  }
  out.policy = std::move(*policy);
  out.payload = std::move(envelope->payload);
  if (auto expired = PolicyExpiredReason(out.policy, now)) {
    out.standing = StoredPolicyStanding::kExpired;
    out.problem = std::move(*expired);
  } else {
    out.standing = StoredPolicyStanding::kValid;
  }
  return out;
}

std::optional<std::string> PolicyExpiredReason(const bundle::TrustPolicy& policy, int64_t now) {
  if (!policy.expires || now < *policy.expires) return std::nullopt;
  return "trust policy " + Version(policy.version) + " expired at " + Rfc3339(*policy.expires) +
         "; waiting for a newer policy";
}

PolicyUpdateDecision DecidePolicyUpdate(const HeldPolicy* held, const bundle::TrustPolicy& candidate,
                                        std::string_view payload, std::string_view enrolled_fleet) {
  const std::string fleet(enrolled_fleet.empty() && held ? std::string_view(held->policy.fleet) : enrolled_fleet);
  if (!fleet.empty() && candidate.fleet != fleet)
    return {PolicyUpdate::kOtherFleet, "refusing trust policy " + Version(candidate.version) + " for fleet '" +
                                           candidate.fleet + "': this device belongs to fleet '" + fleet + "'"};
  if (!held) return {PolicyUpdate::kAdopt, ""};
  if (payload == held->payload) return {PolicyUpdate::kSame, ""};
  if (candidate.version < held->policy.version)
    return {PolicyUpdate::kOlder, "refusing trust policy " + Version(candidate.version) + ", older than the held " +
                                      Version(held->policy.version)};
  if (candidate.version == held->policy.version)
    return {PolicyUpdate::kConflict, "refusing trust policy " + Version(candidate.version) +
                                         ": its content differs from the " + Version(held->policy.version) +
                                         " this device holds (two different policies carry the same version)"};
  return {PolicyUpdate::kAdopt, ""};
}

}  // namespace edge::agent
