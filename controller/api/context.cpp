#include "controller/api/context.h"

#include "common/core/log.h"
#include "controller/api/cluster.h"

namespace edge::controller {

Result<edge::v1::ControllerMessage> ControllerContext::DesiredStateFor(const std::string& device_id) {
  EDGE_ASSIGN_OR_RETURN(auto device, store->GetDevice(device_id));
  EDGE_ASSIGN_OR_RETURN(auto models, store->DesiredModels(device_id));
  edge::v1::ControllerMessage msg;
  auto* desired = msg.mutable_desired();
  desired->set_generation(device.desired_generation);
  desired->set_trust_policy(Trust()->envelope);
  for (auto& m : models) {
    auto* dm = desired->add_models();
    dm->set_model(m.model);
    dm->set_version(m.version);
    dm->set_envelope(m.envelope);
  }
  return msg;
}

void ControllerContext::NotifyDevices(const std::vector<std::string>& device_ids) {
  for (const auto& id : device_ids) {
    auto it = sessions.find(id);
    if (it == sessions.end()) continue;
    auto msg = DesiredStateFor(id);
    if (!msg) {
      log::Error("cannot build desired state", {{"device", id}, {"error", msg.error().message}});
      continue;
    }
    it->second->Send(*msg);
  }
}

Result<std::shared_ptr<const TrustState>> VerifyServedPolicy(const ControllerContext& ctx, std::string_view bytes,
                                                             int64_t now, bool allow_expired) {
  if (bytes.size() > bundle::kMaxEnvelopeBytes) return Fail(ErrorCode::kInvalidArgument, "trust policy is larger than 1 MiB");
  EDGE_ASSIGN_OR_RETURN(auto envelope, bundle::ParseEnvelope(bytes));
  EDGE_ASSIGN_OR_RETURN(auto policy, allow_expired ? bundle::VerifyTrustPolicySignature(envelope, ctx.release_root)
                                                   : bundle::VerifyTrustPolicy(envelope, ctx.release_root, now));
  if (policy.fleet != ctx.config.fleet)
    return Fail(ErrorCode::kInvalidArgument, "trust policy is for fleet '" + policy.fleet + "', not '" + ctx.config.fleet + "'");
  return std::make_shared<const TrustState>(TrustState{std::string(bytes), std::move(policy)});
}

Result<std::shared_ptr<const TrustState>> ChooseServedPolicy(std::shared_ptr<const TrustState> file,
                                                             std::shared_ptr<const TrustState> stored, int64_t now) {
  if (stored && stored->policy.version > file->policy.version) return stored;
  if (Expired(*file, now))
    return Fail(ErrorCode::kBadConfig, "trust policy v" + std::to_string(file->policy.version) +
                                           " has expired; sign a newer one (edgectl trust rotate)");
  return file;
}

void ControllerContext::DisconnectDevice(const std::string& device_id, const std::string& why) {
  if (auto it = sessions.find(device_id); it != sessions.end()) {
    it->second->Close(7 /* PERMISSION_DENIED */, why);
    sessions.erase(it);
    SessionsChanged();
  }
  auto [hello_first, hello_last] = pending_hellos.equal_range(device_id);
  for (auto it = hello_first; it != hello_last; ++it) it->second->Close(7 /* PERMISSION_DENIED */, why);
  pending_hellos.erase(hello_first, hello_last);
  auto [first, last] = transfers.equal_range(device_id);
  for (auto it = first; it != last; ++it)
    if (auto flag = it->second.lock()) flag->store(true);
  transfers.erase(first, last);
}

bool ControllerContext::ForgetPendingHello(const std::string& device_id, const AgentStreamHandle* handle) {
  auto [first, last] = pending_hellos.equal_range(device_id);
  for (auto it = first; it != last; ++it)
    if (it->second.get() == handle) {
      pending_hellos.erase(it);
      return true;
    }
  return false;
}

void ControllerContext::SessionEnded(const std::string& device_id, uint64_t stream) {
  if (!cluster) return;
  AgentReport report;
  report.device_id = device_id;
  report.now = clock.NowUnix();
  report.stream = stream;
  report.disconnected = true;
  ingest.Add(std::move(report), [device_id](const AgentReportOutcome& outcome) {
    // Left behind, the row says "online" until this controller stops heartbeating.
    if (!outcome.status)
      log::Warn("cannot remove an ended session", {{"device", device_id}, {"error", outcome.status.error().message}});
  });
}

bool ControllerContext::Online(const std::string& device_id) {
  return sessions.count(device_id) > 0 || (cluster && cluster->ConnectedElsewhere(device_id));
}

Status ControllerContext::AdoptStoredTrust() {
  EDGE_ASSIGN_OR_RETURN(auto stored, store->LatestTrustPolicy());
  if (!stored || stored->version <= Trust()->policy.version) return Ok();
  EDGE_ASSIGN_OR_RETURN(auto trust, VerifyServedPolicy(*this, stored->envelope, clock.NowUnix(), /*allow_expired=*/true));
  SetTrust(trust);
  std::vector<std::string> connected;
  for (const auto& [id, session] : sessions) connected.push_back(id);
  NotifyDevices(connected);
  log::Info("trust policy adopted from the store", {{"version", trust->policy.version}, {"pushed_by", stored->pushed_by},
                                                    {"devices_notified", connected.size()}});
  return Ok();
}

void ControllerContext::RefreshStateGauges() {
  auto rollout_states = store->CountRolloutStates();
  auto reported_states = store->CountReportedStates();
  if (!rollout_states || !reported_states) {
    log::Warn("cannot count states for /metrics",
              {{"error", (rollout_states ? reported_states.error() : rollout_states.error()).message}});
    return;
  }
  metrics.SetStateCounts(*rollout_states, *reported_states);
}

}  // namespace edge::controller
