// One simulated agent's behaviour, as a pure state machine: desired states and download
// outcomes in, the next report and the work to start out. No sockets, no clock of its own (the
// caller passes `now`), so the simulator's logic is unit-tested without a controller.
//
// The simulated update follows the real agent's states (agent/core/update_machine.h) closely
// enough for the controller's rollout planner and health gates: downloading → probation (the
// soak window, reporting the version's latency) → committed, or → rolled_back for a device the
// script makes fail that version. A newer desired version abandons the one in flight.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "edge/v1/agent.pb.h"

namespace edge::fleetsim {

// What the run makes some devices do. A device is chosen for a rule by a hash of the seed, the
// rule and its name, so a run with the same seed picks the same devices.
struct Script {
  struct Fail {  // installing `version` fails: the device reports rolled_back
    double share = 0;
    std::string version;
  };
  struct Slow {  // once on `version`, the device reports this p99 latency
    double share = 0;
    std::string version;
    double p99_us = 0;
  };
  struct Offline {  // the device drops its connection `after_s` into the run for `for_s`
    double share = 0;
    double after_s = 0;
    double for_s = 0;
  };
  std::vector<Fail> fail;
  std::vector<Slow> slow;
  std::vector<Offline> offline;
  uint64_t seed = 1;
  double soak_scale = 1.0;  // multiplies each manifest's soak window
};

// Whether `device` is one of the `share` (0..1) of devices picked for rule `salt`.
bool Chosen(uint64_t seed, const std::string& salt, const std::string& device, double share);

// A blob to fetch for an update.
struct BlobWork {
  std::string digest;
  uint64_t size = 0;
};

// What the caller starts after an input.
struct Work {
  // Fetch these blobs of `model` at `version` (in order; each checked against its digest).
  std::optional<std::pair<std::string, std::string>> download;  // (model, version)
  std::vector<BlobWork> blobs;
  // Call SoakDone(model, version) at this time.
  std::optional<double> soak_until;
};

class SimDevice {
 public:
  SimDevice(std::string name, const Script* script) : name_(std::move(name)), script_(script) {}

  const std::string& name() const { return name_; }
  edge::v1::Hello MakeHello(uint64_t trust_policy_version) const;
  // A full status report: every model, health measured at `now` (unix seconds) and the events
  // not yet acknowledged.
  edge::v1::StatusReport MakeReport(int64_t now, double uptime_s) const;

  // A desired state whose manifests the caller has verified: `blobs` maps each desired
  // (model, version) to the blobs its manifest lists, `soak_s` to its soak window.
  struct Verified {
    std::vector<BlobWork> blobs;
    uint64_t security_version = 0;
    double soak_s = 0;
  };
  Work OnDesired(const edge::v1::DesiredState& desired,
                 const std::map<std::pair<std::string, std::string>, Verified>& verified, int64_t now);
  // A desired model whose manifest did not verify: the device refuses it (state failed).
  void Refuse(const std::string& model, const std::string& version, const std::string& why, int64_t now);
  // Progress of the download in flight (ignored if it is no longer the target).
  void OnProgress(const std::string& model, const std::string& version, uint64_t bytes_done);
  // Every blob arrived and matched its digest (ok), or the download failed for good.
  Work OnDownloaded(const std::string& model, const std::string& version, bool ok, const std::string& detail,
                    int64_t now, double now_s);
  // The soak window of `version` ended: commit it.
  void SoakDone(const std::string& model, const std::string& version, int64_t now);
  void OnAck(uint64_t up_to_seq);

  uint64_t acked_generation() const { return generation_; }
  // Whether the device runs `version` of `model`, committed.
  bool CommittedOn(const std::string& model, const std::string& version) const;
  bool WillFail(const std::string& version) const;
  size_t unacked_events() const { return events_.size(); }
  uint64_t events_emitted() const { return next_seq_ - 1; }

 private:
  struct Slot {
    std::string active;
    uint64_t security_version = 0;
    uint64_t floor = 0;
    std::string state = "idle";
    std::string target;
    std::string detail;
    uint64_t bytes_done = 0;
    uint64_t bytes_total = 0;
    double activated_s = 0;  // simulator time the version became active
  };
  void Emit(const std::string& model, const std::string& version, const std::string& outcome,
            const std::string& reason, int64_t now);
  double P99For(const std::string& version) const;

  std::string name_;
  const Script* script_;
  std::map<std::string, Slot> slots_;
  std::map<std::string, Verified> pending_;  // model → the target's facts, while it is in flight
  std::vector<edge::v1::UpdateEvent> events_;  // not yet acknowledged
  uint64_t next_seq_ = 1;
  uint64_t generation_ = 0;
};

}  // namespace edge::fleetsim
