// Plain records the controller's store reads and writes. No SQLite or gRPC types here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace edge::controller {

struct SiteRecord {
  std::string name;
  int64_t created_at = 0;
  uint32_t device_count = 0;
};

// What DeleteSite removed: the site as it was and the ids of its dead (used, expired or revoked)
// enrollment tokens, whose rows went with it.
struct DeletedSiteRecord {
  SiteRecord site;
  std::vector<std::string> removed_tokens;
};

struct DeviceRecord {
  std::string id;
  std::string site;
  std::string cert_serial;
  int64_t cert_not_after = 0;
  int64_t enrolled_at = 0;
  int64_t last_seen = 0;
  std::string agent_version;
  std::string facts_json = "{}";
  uint64_t desired_generation = 0;
  bool revoked = false;
  std::map<std::string, std::string> labels;
};

struct TokenRecord {
  std::string token_hash;
  std::string site;
  std::string created_by;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

struct BlobRecord {
  std::string digest;
  std::string role;
  uint64_t size = 0;
};

struct VersionRecord {
  std::string model;
  std::string version;
  uint64_t security_version = 0;
  std::string manifest_digest;
  std::string envelope;  // exact signed envelope bytes
  uint64_t total_bytes = 0;
  std::string signed_by;
  std::string pushed_by;
  int64_t pushed_at = 0;
  std::vector<BlobRecord> blobs;
};

// What DeleteVersion removed: the version as it was (with its blobs), and which of its blobs no
// remaining version references (their rows are gone; their files are for the caller to delete,
// only after the transaction committed). The others are shared with another version and stay.
struct DeletedVersionRecord {
  VersionRecord version;
  std::vector<std::string> unreferenced_blobs;
  std::vector<std::string> shared_blobs;
};

struct DesiredModelRecord {
  std::string model;
  std::string version;
  std::string envelope;
};

struct ReportedModelRecord {
  std::string model;
  std::string version;
  uint64_t security_version = 0;
  std::string state;
  std::string target_version;
  std::string detail;
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  uint64_t security_floor = 0;
  int64_t updated_at = 0;
  // Reports stored for this row (read by the fleet queries; 0 elsewhere): unlike updated_at,
  // in whole seconds, it changes with every stored report.
  uint64_t reports = 0;
};

struct DeviceModelView {
  std::string model;
  std::string desired_version;
  std::optional<ReportedModelRecord> reported;
};

// One model's health on a device. History samples keep only the counters and percentiles
// (no histogram, no self-test text).
struct ModelHealthRecord {
  std::string model;
  std::string version;
  std::string state;
  uint64_t inferences = 0;
  uint64_t errors = 0;
  std::vector<uint64_t> latency_bucket_upper_us;
  std::vector<uint64_t> latency_counts;  // one per bound, plus an optional overflow count
  double p50_us = 0;
  double p99_us = 0;
  std::string last_selftest;
  int64_t last_selftest_at = 0;
};

struct HealthRecord {
  int64_t unix_time = 0;    // device clock
  int64_t received_at = 0;  // controller clock
  double cpu_percent = 0;
  uint64_t rss_bytes = 0;
  uint64_t disk_free_bytes = 0;
  uint64_t uptime_seconds = 0;
  std::vector<ModelHealthRecord> models;
};

// A final update outcome reported by a device; unique per (device, seq).
struct UpdateEventRecord {
  uint64_t seq = 0;
  std::string model;
  std::string version;
  std::string outcome;  // committed | rolled_back | failed | abandoned
  std::string reason;
  int64_t unix_time = 0;    // device clock
  bool offline_install = false;
  int64_t received_at = 0;  // controller clock
};

struct EventsRecorded {
  uint32_t inserted = 0;
  uint32_t duplicates = 0;  // already stored: a re-send
  uint64_t max_seq = 0;     // highest seq stored for the device, after this call
};

// An operator's binding to a role. Operators are named by their certificate's SPIFFE ID; the
// role lives here, not in the certificate, so it can change without reissuing anything.
struct OperatorRecord {
  std::string name;
  std::string role;  // viewer | deployer | admin
  bool revoked = false;
  std::string created_by;
  int64_t created_at = 0;
  int64_t last_seen = 0;
  std::string last_serial;
};

// An enrollment token as listed: never the token, only an id from its hash.
struct TokenInfoRecord {
  std::string id;  // first 16 hex digits of the token's SHA-256
  std::string site;
  std::string created_by;
  int64_t created_at = 0;
  int64_t expires_at = 0;
  std::string state;  // unused | used | expired | revoked
  std::string used_by;
};

struct DeniedSerialRecord {
  std::string serial;
  std::string identity;  // device/<id> or operator/<name>
  std::string reason;    // revoked | renewed | decommissioned
  int64_t denied_at = 0;
  std::string denied_by;
};

struct TrustPolicyRecord {
  uint64_t version = 0;
  std::string envelope;  // exact signed bytes
  std::string pushed_by;
  int64_t pushed_at = 0;
};

// What the rollout driver needs about one device for one model, read in one pass over the fleet.
struct FleetDeviceRecord {
  std::string id;
  std::string site;
  std::string facts_json;
  std::map<std::string, std::string> labels;
  std::optional<ReportedModelRecord> reported;  // for the model
  std::string desired_version;                  // the controller's desired version of the model ("" = none)
  std::map<std::string, int64_t> failed_at;     // version -> last failed/rolled_back outcome received
};

// Several controllers on one database (cluster mode: StoreOptions::cluster_id set).
struct ControllerRecord {
  std::string id;  // one per process start
  std::string host;
  std::string agent_endpoint;     // where its agent listener is, as it was configured
  std::string operator_endpoint;
  int64_t started_at = 0;
  int64_t heartbeat_at = 0;
  uint64_t sessions = 0;  // ListControllers: agent streams it holds
  bool planner = false;   // ListControllers: it holds the planner lease
};

// The rollout planner's lease: one holder at a time, renewed with its heartbeat.
struct PlannerLease {
  std::string holder;  // "" = nobody
  int64_t epoch = 0;   // takeovers so far
  int64_t expires_at = 0;
};

// One entry of the change feed: what agents connected to other controllers must hear of.
struct FleetChange {
  int64_t seq = 0;
  std::string kind;     // desired | trust | revoked | rollout
  std::string subject;  // device id, policy version or rollout id
  std::string origin;   // the controller that wrote it
  int64_t at = 0;
};

// How the cluster's liveness is judged (seconds of the controllers' clocks: keep them in sync).
struct ClusterTimes {
  int64_t lease_seconds = 10;       // a planner that stops renewing loses the lease after this
  int64_t stale_seconds = 15;       // a controller silent this long is dead: its agents count as offline
  int64_t forget_seconds = 3600;    // dead controllers' rows and change entries older than this are removed
};

struct RolloutEventRecord {
  int64_t id = 0;
  int64_t rollout_id = 0;
  int64_t at = 0;
  std::string kind;
  std::string device;
  std::string detail;
};

// An audit row's result: the action happened ("ok"), or the gRPC code that refused the call,
// in lower case (migration 006 holds the same list).
inline constexpr const char* kAuditOk = "ok";
inline constexpr std::string_view kAuditResults[] = {"ok", "permission_denied", "invalid_argument", "not_found",
                                                     "failed_precondition", "already_exists"};
inline bool IsAuditResult(std::string_view result) {
  for (auto r : kAuditResults)
    if (r == result) return true;
  return false;
}

struct AuditFilter {
  uint32_t limit = 100;
  std::string target;  // each: empty = any
  std::string actor;
  std::string action;
  std::string result{};  // also "refused": every result but ok
};

struct AuditRecord {
  int64_t id = 0;
  int64_t at = 0;
  std::string actor;
  std::string action;
  std::string target;
  std::string detail;
  std::string result = kAuditOk;
};

}  // namespace edge::controller
