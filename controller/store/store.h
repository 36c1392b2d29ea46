// The controller's inventory store. An interface with one implementation on two databases
// (sql_store.cpp): SQLite, the embedded default, and PostgreSQL, the scale-out path where
// several controllers share one database (DESIGN §9). Every mutation that an operator causes
// writes its audit row in the same transaction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/core/result.h"
#include "controller/rollout/planner.h"
#include "controller/store/types.h"

namespace edge::controller {

// One device's report as the agent stream hands it over (RecordReports): a hello (with the
// agent's version) or a status report, its health and its update events.
struct AgentReport {
  std::string device_id;
  int64_t now = 0;
  std::optional<std::string> agent_version;  // set for a hello
  std::vector<ReportedModelRecord> models;
  std::optional<HealthRecord> health;
  std::vector<UpdateEventRecord> events;
  // Which of this controller's streams it came on (cluster mode: a hello makes it the device's
  // session row).
  uint64_t stream = 0;
  // That stream ended (cluster mode): only its session row is removed, if it is still that
  // stream's. Nothing else of the report is read.
  bool disconnected = false;
};

struct AgentReportOutcome {
  // Not ok: nothing of this report was stored (kResourceExhausted: too many models).
  Status status = Ok();
  std::optional<EventsRecorded> events;  // set when the report carried events and was stored
};

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<SiteRecord> CreateSite(const std::string& name, const std::string& actor, int64_t now) = 0;
  virtual Result<std::vector<SiteRecord>> ListSites() = 0;
  virtual Result<bool> SiteExists(const std::string& name) = 0;
  // Removes a site nothing uses, with its audit row: kNotFound for an unknown site;
  // kFailedPrecondition while it has a device (revoked ones included: decommission them), an
  // unused unexpired token (revoke it) or a live or reverting rollout that names it (abort it).
  // The rows of its used, expired and revoked tokens are removed with it (their ids go into the
  // audit row; the audit log keeps their creation, use and revocation).
  virtual Result<DeletedSiteRecord> DeleteSite(const std::string& name, const std::string& actor,
                                               const std::string& reason, int64_t now) = 0;

  virtual Status CreateToken(const TokenRecord& token, const std::string& actor) = 0;
  // Atomically consumes an unused, unexpired token and creates the device at the token's site.
  // Errors: unknown/used token and expired token are kPermissionDenied; an existing device id
  // is kAlreadyExists.
  virtual Result<DeviceRecord> EnrollDevice(const std::string& token_hash, DeviceRecord device,
                                            int64_t now) = 0;
  virtual Result<DeviceRecord> GetDevice(const std::string& id) = 0;
  virtual Result<std::vector<DeviceRecord>> ListDevices(const std::string& site_filter) = 0;
  // Replaces the device's certificate, only if `old_serial` is its current one (else
  // kUnauthenticated), and denies `old_serial` from now on, in one transaction with the audit
  // row: a renewal can happen once per certificate, so a copied key cannot renew after the
  // device has (and the device learns at once if a copy renewed first).
  virtual Status RenewDeviceCert(const std::string& id, const std::string& old_serial, const std::string& new_serial,
                                 int64_t not_after, int64_t now) = 0;
  // Read-only pre-check of what EnrollDevice would refuse (cheap: run before any CSR work).
  virtual Status CheckEnrollment(const std::string& token_hash, const std::string& device_id, int64_t now) = 0;

  // Revocation (admin). Revoke marks the device and denies its current serial; decommission
  // also removes the device and everything it reported, freeing its name. Both keep the
  // serials denied. Revoking a revoked device changes nothing and succeeds.
  virtual Result<DeviceRecord> RevokeDevice(const std::string& id, const std::string& actor, const std::string& reason,
                                            int64_t now) = 0;
  virtual Result<std::vector<std::string>> DecommissionDevice(const std::string& id, const std::string& actor,
                                                              const std::string& reason, int64_t now) = 0;
  virtual Result<std::optional<DeniedSerialRecord>> FindDeniedSerial(const std::string& serial) = 0;

  virtual Result<std::vector<TokenInfoRecord>> ListTokens(const std::string& site_filter, bool all, int64_t now) = 0;
  // Revoking a revoked token changes nothing and succeeds; a used one is kFailedPrecondition.
  virtual Result<TokenInfoRecord> RevokeToken(const std::string& id, const std::string& actor, const std::string& reason,
                                              int64_t now) = 0;

  virtual Result<std::optional<OperatorRecord>> GetOperator(const std::string& name) = 0;
  virtual Result<std::vector<OperatorRecord>> ListOperators() = 0;
  virtual Result<OperatorRecord> AddOperator(const std::string& name, const std::string& role, const std::string& actor,
                                             int64_t now) = 0;
  virtual Result<OperatorRecord> SetOperatorRole(const std::string& name, const std::string& role,
                                                 const std::string& actor, int64_t now) = 0;
  // Marks the operator revoked and denies the serial last seen for it.
  virtual Result<OperatorRecord> RevokeOperator(const std::string& name, const std::string& actor,
                                                const std::string& reason, int64_t now) = 0;
  // Records the certificate serial an operator called with (written only when it changed or
  // `last_seen` is a minute old, so read-only polling does not write on every call).
  virtual Status TouchOperator(const std::string& name, const std::string& serial, int64_t now) = 0;
  // Binds `name` to admin if no operator exists yet (the first admin, from `pki init`).
  virtual Result<bool> EnsureInitialAdmin(const std::string& name, int64_t now) = 0;

  // The newest pushed trust policy, if any.
  virtual Result<std::optional<TrustPolicyRecord>> LatestTrustPolicy() = 0;
  // Stores a verified policy; its version must be above every stored one (kFailedPrecondition).
  virtual Status AddTrustPolicy(const TrustPolicyRecord& policy) = 0;
  virtual Status RecordHello(const std::string& id, const std::string& agent_version, int64_t now) = 0;
  // Fails with kResourceExhausted (and stores nothing) if the device would then have more than
  // kMaxReportedModelsPerDevice models.
  virtual Status RecordReport(const std::string& id, const std::vector<ReportedModelRecord>& models,
                              int64_t now) = 0;
  // Stores many devices' reports in one transaction (group commit: one fsync for the batch
  // instead of two per report). Each report is all or nothing, as RecordHello, RecordReport,
  // RecordHealth and RecordEvents would store it; one refused report leaves the others stored.
  // An error means the batch as a whole was not stored.
  virtual Result<std::vector<AgentReportOutcome>> RecordReports(const std::vector<AgentReport>& reports) = 0;
  virtual Result<std::vector<DeviceModelView>> DeviceModels(const std::string& id) = 0;
  virtual Result<std::vector<DesiredModelRecord>> DesiredModels(const std::string& id) = 0;

  // Returns false (and stores nothing) if the version exists with the same manifest digest;
  // fails with kAlreadyExists if it exists with a different one.
  virtual Result<bool> AddVersion(const VersionRecord& version, int64_t now) = 0;
  virtual Result<std::vector<VersionRecord>> ListVersions() = 0;
  virtual Result<VersionRecord> GetVersion(const std::string& model, const std::string& version) = 0;
  // Removes a version nothing needs any more, with its audit row (`model.delete`): kNotFound for
  // an unknown version; kFailedPrecondition, naming the first user and what frees it, while a
  // device desires it, a device reports running it or being on the way to it, a running, paused,
  // completed (standing) or reverting rollout deploys it or could send devices back to it, or a
  // device came from it in the rollout that gave it the version it desires now (it is where
  // that device would roll back to). Rollouts that named it and ended stay as they are. The
  // blob rows no other version references go with it; deleting their files is the caller's job,
  // after this returned (so a crash leaves an unreferenced file, never a version without one).
  virtual Result<DeletedVersionRecord> DeleteVersion(const std::string& model, const std::string& version,
                                                     const std::string& actor, const std::string& reason,
                                                     int64_t now) = 0;
  virtual Result<bool> HasBlob(const std::string& digest) = 0;
  // Whether `digest` belongs to a version desired for `device_id` (FetchBlob authorisation).
  virtual Result<std::optional<uint64_t>> BlobSizeForDevice(const std::string& device_id,
                                                            const std::string& digest) = 0;

  // Health (DESIGN §7): the latest report per device in full, and a bounded history of
  // samples (the newest `health_history_limit` per device; older ones are pruned in the same
  // transaction as the insert). `health.received_at` is the controller's clock.
  virtual Status RecordHealth(const std::string& device_id, const HealthRecord& health) = 0;
  virtual Result<std::optional<HealthRecord>> LatestHealth(const std::string& device_id) = 0;
  // Newest first, at most `limit`.
  virtual Result<std::vector<HealthRecord>> HealthHistory(const std::string& device_id, uint32_t limit) = 0;

  // Stores each event once per (device, seq): a re-sent event is counted as a duplicate and
  // left as first stored. Returns the highest seq stored for the device (what to acknowledge).
  // Only the newest `events_per_device` events are kept (older ones are pruned in the same
  // transaction).
  virtual Result<EventsRecorded> RecordEvents(const std::string& device_id,
                                              const std::vector<UpdateEventRecord>& events, int64_t now) = 0;
  // Newest (highest seq) first, at most `limit`.
  virtual Result<std::vector<UpdateEventRecord>> ListEvents(const std::string& device_id, uint32_t limit) = 0;

  // Labels: `set` adds or replaces, `remove` drops (absent keys are fine); one audit row.
  // Keys and values are checked by the caller. kNotFound for an unknown device.
  virtual Result<DeviceRecord> SetDeviceLabels(const std::string& id, const std::map<std::string, std::string>& set,
                                               const std::vector<std::string>& remove, const std::string& actor,
                                               int64_t now) = 0;

  // Rollouts. Create stores the rollout (no devices yet: the first Plan step takes them) with
  // its audit row and returns it with its id.
  virtual Result<rollout::Rollout> CreateRollout(rollout::Rollout rollout, int64_t now) = 0;
  // Running, paused, completed and reverting rollouts, oldest first, each with its row counts
  // but not its device rows (rows_loaded false: GetRollout reads them).
  virtual Result<std::vector<rollout::Rollout>> LiveRollouts() = 0;
  virtual Result<rollout::Rollout> GetRollout(int64_t id) = 0;  // with its device rows; kNotFound
  // Newest first, with row counts but not device rows; `all` = also aborted and reverted ones.
  virtual Result<std::vector<rollout::Rollout>> ListRollouts(bool all, uint32_t limit) = 0;
  // Persists one planner step in one transaction: the rollout's header, its dirty device rows,
  // its events, and each dispatch (desired version set and the device's generation bumped, only
  // if it changes; a rollout dispatch also records the device's baseline health for the
  // row). `actor` (may be empty) writes one audit row for the step's control or creation.
  // Returns the devices whose desired state changed.
  virtual Result<std::vector<std::string>> SaveRolloutStep(const rollout::Step& step, const std::string& actor,
                                                           const std::string& audit_action, int64_t now) = 0;
  // Events with id > `after_id`, oldest first, at most `limit`.
  virtual Result<std::vector<RolloutEventRecord>> RolloutEvents(int64_t id, int64_t after_id, uint32_t limit) = 0;
  // Every device not revoked, with what the rollout driver needs for `model`.
  virtual Result<std::vector<FleetDeviceRecord>> FleetForModel(const std::string& model) = 0;

  // For /metrics: rollouts per state, and the (device, model) reports of devices not revoked
  // per reported update state (the state text as stored).
  virtual Result<std::map<std::string, int64_t>> CountRolloutStates() = 0;
  virtual Result<std::map<std::string, int64_t>> CountReportedStates() = 0;

  // One row, beyond the newest `audit_rows` the oldest are dropped (refused calls included).
  // A result that is not an audit result fails (kInvalidArgument) and writes nothing.
  virtual Status Audit(const AuditRecord& entry) = 0;
  // Newest first.
  virtual Result<std::vector<AuditRecord>> ListAudit(const AuditFilter& filter) = 0;

  // Several controllers on one database (cluster mode; docs/operations.md#several-controllers).
  // In cluster mode the store also writes, in the same transactions: a session row with each
  // hello (and removes it with a disconnect report), and a change-feed entry for each device
  // whose desired state a rollout step changed, each trust policy pushed, each device revoked
  // or decommissioned, and each rollout created or controlled.
  //
  // Renews `self`'s row and heartbeat, and takes or renews the planner lease when it is free,
  // expired or already `self`'s; returns the lease as it is after.
  virtual Result<PlannerLease> Heartbeat(const ControllerRecord& self, const ClusterTimes& times, int64_t now) = 0;
  // Removes controllers silent for `forget_seconds` with the sessions they held, and change
  // entries as old (the planner's housekeeping). A controller silent for less keeps its rows:
  // its agents count as offline meanwhile, and online again when it heartbeats.
  virtual Status ForgetDeadControllers(const ClusterTimes& times, int64_t now) = 0;
  // A controller that stops cleanly: its sessions and row go, its lease (if held) is freed.
  virtual Status LeaveCluster(const std::string& id) = 0;
  // Controllers with a row, newest start first, with their session counts.
  virtual Result<std::vector<ControllerRecord>> ListControllers() = 0;
  // Makes `controller`'s session rows match its streams: removes those of streams not in
  // `live_streams` (ended; their removal failed) and writes those of `held` (device, stream)
  // that are missing. Returns how many rows it changed.
  virtual Result<int> ReconcileSessions(const std::string& controller, const std::set<uint64_t>& live_streams,
                                        const std::vector<std::pair<std::string, uint64_t>>& held, int64_t now) = 0;
  // Devices whose stream another live controller (heartbeat within `stale_seconds`) holds.
  virtual Result<std::vector<std::string>> OnlineElsewhere(const std::string& self, const ClusterTimes& times,
                                                           int64_t now) = 0;
  // The newest and the oldest change's seq (0 when none), and the changes after `after_seq`,
  // oldest first.
  virtual Result<int64_t> LastChange() = 0;
  virtual Result<int64_t> OldestChange() = 0;
  virtual Result<std::vector<FleetChange>> ChangesSince(int64_t after_seq, uint32_t limit) = 0;
};

struct StoreOptions {
  uint32_t health_history_limit = 120;  // samples kept per device; at least 1
  uint32_t events_per_device = 1000;    // newest update events kept per device
  uint32_t audit_rows = 100000;         // newest audit rows kept
  // Set when several controllers share the database: this controller's id (ControllerRecord),
  // written as the origin of its change-feed entries and the holder of its agents' sessions.
  // Empty: the only controller (no sessions or change entries are written).
  std::string cluster_id;
};

// Bounds on what one device can make the controller store.
inline constexpr size_t kMaxReportedModelsPerDevice = 64;
inline constexpr size_t kMaxLabelsPerDevice = 32;

// Opens (creating and migrating) the SQLite store at `path`.
Result<std::unique_ptr<Store>> OpenSqliteStore(const std::string& path, StoreOptions options = {});
// Connects to the PostgreSQL store at `url` (postgresql://...) and migrates it; several
// controllers may share it (common/sql/postgres_connection.h says how writes stay correct).
// kUnavailable when the server cannot be reached, kBadConfig for a bad URL, kFailedPrecondition
// for a database newer than this binary or a build without PostgreSQL.
Result<std::unique_ptr<Store>> OpenPostgresStore(const std::string& url, StoreOptions options = {});

}  // namespace edge::controller
