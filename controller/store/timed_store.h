// A Store that times every operation of the store it wraps, into the histogram
// edgefleet_controller_store_duration_seconds{op} (op: the method's name in snake case, a
// fixed set). The strand makes one call at a time, so a duration is the database's.
#pragma once

#include <memory>

#include "common/metrics/metrics.h"
#include "common/metrics/timer.h"
#include "controller/store/store.h"

namespace edge::controller {

class TimedStore final : public Store {
 public:
  TimedStore(std::unique_ptr<Store> inner, metrics::Registry& registry,
             const metrics::MonotonicClock& clock);

 private:
  template <typename Call>
  auto Timed(const char* op, Call call) {
    const int64_t start = clock_.NowNs();
    auto result = call();
    durations_.With({{"op", op}}).Observe(clock_.SecondsSince(start));
    return result;
  }

 public:
  Result<SiteRecord> CreateSite(const std::string& name, const std::string& actor,
                                int64_t now) override {
    return Timed("create_site", [&] { return inner_->CreateSite(name, actor, now); });
  }
  Result<std::vector<SiteRecord>> ListSites() override {
    return Timed("list_sites", [&] { return inner_->ListSites(); });
  }
  Result<bool> SiteExists(const std::string& name) override {
    return Timed("site_exists", [&] { return inner_->SiteExists(name); });
  }
  Result<DeletedSiteRecord> DeleteSite(const std::string& name, const std::string& actor, const std::string& reason,
                                       int64_t now) override {
    return Timed("delete_site", [&] { return inner_->DeleteSite(name, actor, reason, now); });
  }
  Result<DeletedVersionRecord> DeleteVersion(const std::string& model, const std::string& version,
                                             const std::string& actor, const std::string& reason,
                                             int64_t now) override {
    return Timed("delete_version", [&] { return inner_->DeleteVersion(model, version, actor, reason, now); });
  }
  Status CreateToken(const TokenRecord& token, const std::string& actor) override {
    return Timed("create_token", [&] { return inner_->CreateToken(token, actor); });
  }
  Result<DeviceRecord> EnrollDevice(const std::string& token_hash, DeviceRecord device,
                                    int64_t now) override {
    return Timed("enroll_device",
                 [&] { return inner_->EnrollDevice(token_hash, std::move(device), now); });
  }
  Result<DeviceRecord> GetDevice(const std::string& id) override {
    return Timed("get_device", [&] { return inner_->GetDevice(id); });
  }
  Result<std::vector<DeviceRecord>> ListDevices(const std::string& site_filter) override {
    return Timed("list_devices", [&] { return inner_->ListDevices(site_filter); });
  }
  Status RenewDeviceCert(const std::string& id, const std::string& old_serial,
                         const std::string& new_serial, int64_t not_after, int64_t now) override {
    return Timed("renew_device_cert", [&] {
      return inner_->RenewDeviceCert(id, old_serial, new_serial, not_after, now);
    });
  }
  Status CheckEnrollment(const std::string& token_hash, const std::string& device_id,
                         int64_t now) override {
    return Timed("check_enrollment",
                 [&] { return inner_->CheckEnrollment(token_hash, device_id, now); });
  }
  Result<DeviceRecord> RevokeDevice(const std::string& id, const std::string& actor,
                                    const std::string& reason, int64_t now) override {
    return Timed("revoke_device", [&] { return inner_->RevokeDevice(id, actor, reason, now); });
  }
  Result<std::vector<std::string>> DecommissionDevice(const std::string& id,
                                                      const std::string& actor,
                                                      const std::string& reason,
                                                      int64_t now) override {
    return Timed("decommission_device",
                 [&] { return inner_->DecommissionDevice(id, actor, reason, now); });
  }
  Result<std::optional<DeniedSerialRecord>> FindDeniedSerial(const std::string& serial) override {
    return Timed("find_denied_serial", [&] { return inner_->FindDeniedSerial(serial); });
  }
  Result<std::vector<TokenInfoRecord>> ListTokens(const std::string& site_filter, bool all,
                                                  int64_t now) override {
    return Timed("list_tokens", [&] { return inner_->ListTokens(site_filter, all, now); });
  }
  Result<TokenInfoRecord> RevokeToken(const std::string& id, const std::string& actor,
                                      const std::string& reason, int64_t now) override {
    return Timed("revoke_token", [&] { return inner_->RevokeToken(id, actor, reason, now); });
  }
  Result<std::optional<OperatorRecord>> GetOperator(const std::string& name) override {
    return Timed("get_operator", [&] { return inner_->GetOperator(name); });
  }
  Result<std::vector<OperatorRecord>> ListOperators() override {
    return Timed("list_operators", [&] { return inner_->ListOperators(); });
  }
  Result<OperatorRecord> AddOperator(const std::string& name, const std::string& role,
                                     const std::string& actor, int64_t now) override {
    return Timed("add_operator", [&] { return inner_->AddOperator(name, role, actor, now); });
  }
  Result<OperatorRecord> SetOperatorRole(const std::string& name, const std::string& role,
                                         const std::string& actor, int64_t now) override {
    return Timed("set_operator_role",
                 [&] { return inner_->SetOperatorRole(name, role, actor, now); });
  }
  Result<OperatorRecord> RevokeOperator(const std::string& name, const std::string& actor,
                                        const std::string& reason, int64_t now) override {
    return Timed("revoke_operator",
                 [&] { return inner_->RevokeOperator(name, actor, reason, now); });
  }
  Status TouchOperator(const std::string& name, const std::string& serial, int64_t now) override {
    return Timed("touch_operator", [&] { return inner_->TouchOperator(name, serial, now); });
  }
  Result<bool> EnsureInitialAdmin(const std::string& name, int64_t now) override {
    return Timed("ensure_initial_admin", [&] { return inner_->EnsureInitialAdmin(name, now); });
  }
  Result<std::optional<TrustPolicyRecord>> LatestTrustPolicy() override {
    return Timed("latest_trust_policy", [&] { return inner_->LatestTrustPolicy(); });
  }
  Status AddTrustPolicy(const TrustPolicyRecord& policy) override {
    return Timed("add_trust_policy", [&] { return inner_->AddTrustPolicy(policy); });
  }
  Status RecordHello(const std::string& id, const std::string& agent_version,
                     int64_t now) override {
    return Timed("record_hello", [&] { return inner_->RecordHello(id, agent_version, now); });
  }
  Status RecordReport(const std::string& id, const std::vector<ReportedModelRecord>& models,
                      int64_t now) override {
    return Timed("record_report", [&] { return inner_->RecordReport(id, models, now); });
  }
  Result<std::vector<AgentReportOutcome>> RecordReports(const std::vector<AgentReport>& reports) override {
    return Timed("record_reports", [&] { return inner_->RecordReports(reports); });
  }
  Result<std::vector<DeviceModelView>> DeviceModels(const std::string& id) override {
    return Timed("device_models", [&] { return inner_->DeviceModels(id); });
  }
  Result<std::vector<DesiredModelRecord>> DesiredModels(const std::string& id) override {
    return Timed("desired_models", [&] { return inner_->DesiredModels(id); });
  }
  Result<bool> AddVersion(const VersionRecord& version, int64_t now) override {
    return Timed("add_version", [&] { return inner_->AddVersion(version, now); });
  }
  Result<std::vector<VersionRecord>> ListVersions() override {
    return Timed("list_versions", [&] { return inner_->ListVersions(); });
  }
  Result<VersionRecord> GetVersion(const std::string& model, const std::string& version) override {
    return Timed("get_version", [&] { return inner_->GetVersion(model, version); });
  }
  Result<bool> HasBlob(const std::string& digest) override {
    return Timed("has_blob", [&] { return inner_->HasBlob(digest); });
  }
  Result<std::optional<uint64_t>> BlobSizeForDevice(const std::string& device_id,
                                                    const std::string& digest) override {
    return Timed("blob_size_for_device",
                 [&] { return inner_->BlobSizeForDevice(device_id, digest); });
  }
  Status RecordHealth(const std::string& device_id, const HealthRecord& health) override {
    return Timed("record_health", [&] { return inner_->RecordHealth(device_id, health); });
  }
  Result<std::optional<HealthRecord>> LatestHealth(const std::string& device_id) override {
    return Timed("latest_health", [&] { return inner_->LatestHealth(device_id); });
  }
  Result<std::vector<HealthRecord>> HealthHistory(const std::string& device_id,
                                                  uint32_t limit) override {
    return Timed("health_history", [&] { return inner_->HealthHistory(device_id, limit); });
  }
  Result<EventsRecorded> RecordEvents(const std::string& device_id,
                                      const std::vector<UpdateEventRecord>& events,
                                      int64_t now) override {
    return Timed("record_events", [&] { return inner_->RecordEvents(device_id, events, now); });
  }
  Result<std::vector<UpdateEventRecord>> ListEvents(const std::string& device_id,
                                                    uint32_t limit) override {
    return Timed("list_events", [&] { return inner_->ListEvents(device_id, limit); });
  }
  Result<DeviceRecord> SetDeviceLabels(const std::string& id,
                                       const std::map<std::string, std::string>& set,
                                       const std::vector<std::string>& remove,
                                       const std::string& actor, int64_t now) override {
    return Timed("set_device_labels",
                 [&] { return inner_->SetDeviceLabels(id, set, remove, actor, now); });
  }
  Result<rollout::Rollout> CreateRollout(rollout::Rollout rollout, int64_t now) override {
    return Timed("create_rollout", [&] { return inner_->CreateRollout(std::move(rollout), now); });
  }
  Result<std::vector<rollout::Rollout>> LiveRollouts() override {
    return Timed("live_rollouts", [&] { return inner_->LiveRollouts(); });
  }
  Result<rollout::Rollout> GetRollout(int64_t id) override {
    return Timed("get_rollout", [&] { return inner_->GetRollout(id); });
  }
  Result<std::vector<rollout::Rollout>> ListRollouts(bool all, uint32_t limit) override {
    return Timed("list_rollouts", [&] { return inner_->ListRollouts(all, limit); });
  }
  Result<std::vector<std::string>> SaveRolloutStep(const rollout::Step& step,
                                                   const std::string& actor,
                                                   const std::string& audit_action,
                                                   int64_t now) override {
    return Timed("save_rollout_step",
                 [&] { return inner_->SaveRolloutStep(step, actor, audit_action, now); });
  }
  Result<std::vector<RolloutEventRecord>> RolloutEvents(int64_t id, int64_t after_id,
                                                        uint32_t limit) override {
    return Timed("rollout_events", [&] { return inner_->RolloutEvents(id, after_id, limit); });
  }
  Result<PlannerLease> Heartbeat(const ControllerRecord& self, const ClusterTimes& times, int64_t now) override {
    return Timed("heartbeat", [&] { return inner_->Heartbeat(self, times, now); });
  }
  Status ForgetDeadControllers(const ClusterTimes& times, int64_t now) override {
    return Timed("forget_dead_controllers", [&] { return inner_->ForgetDeadControllers(times, now); });
  }
  Status LeaveCluster(const std::string& id) override {
    return Timed("leave_cluster", [&] { return inner_->LeaveCluster(id); });
  }
  Result<std::vector<ControllerRecord>> ListControllers() override {
    return Timed("list_controllers", [&] { return inner_->ListControllers(); });
  }
  Result<std::vector<std::string>> OnlineElsewhere(const std::string& self, const ClusterTimes& times,
                                                   int64_t now) override {
    return Timed("online_elsewhere", [&] { return inner_->OnlineElsewhere(self, times, now); });
  }
  Result<int64_t> LastChange() override {
    return Timed("last_change", [&] { return inner_->LastChange(); });
  }
  Result<int64_t> OldestChange() override {
    return Timed("oldest_change", [&] { return inner_->OldestChange(); });
  }
  Result<int> ReconcileSessions(const std::string& controller, const std::set<uint64_t>& live_streams,
                                const std::vector<std::pair<std::string, uint64_t>>& held, int64_t now) override {
    return Timed("reconcile_sessions", [&] { return inner_->ReconcileSessions(controller, live_streams, held, now); });
  }
  Result<std::vector<FleetChange>> ChangesSince(int64_t after_seq, uint32_t limit) override {
    return Timed("changes_since", [&] { return inner_->ChangesSince(after_seq, limit); });
  }
  Result<std::vector<FleetDeviceRecord>> FleetForModel(const std::string& model) override {
    return Timed("fleet_for_model", [&] { return inner_->FleetForModel(model); });
  }
  Result<std::map<std::string, int64_t>> CountRolloutStates() override {
    return Timed("count_rollout_states", [&] { return inner_->CountRolloutStates(); });
  }
  Result<std::map<std::string, int64_t>> CountReportedStates() override {
    return Timed("count_reported_states", [&] { return inner_->CountReportedStates(); });
  }
  Status Audit(const AuditRecord& entry) override {
    return Timed("audit", [&] { return inner_->Audit(entry); });
  }
  Result<std::vector<AuditRecord>> ListAudit(const AuditFilter& filter) override {
    return Timed("list_audit", [&] { return inner_->ListAudit(filter); });
  }

 private:
  std::unique_ptr<Store> inner_;
  metrics::Family<metrics::Histogram>& durations_;
  const metrics::MonotonicClock& clock_;
};

}  // namespace edge::controller
