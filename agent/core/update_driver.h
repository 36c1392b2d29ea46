// The update driver (DESIGN §7): owns every model's record and epoch, takes events, consults the
// table (update_machine.h) and returns the actions to run. Pure logic: it reaches the world only
// through UpdatePorts (a durable record store and the envelope verifier) and an injected clock;
// the daemon's adapters run the actions it returns and feed their results back as events.
//
// Rules it keeps:
//  - Persist before each side effect: a transition's record (entry effect applied) and its
//    outcome events are written in one durable write before its action is returned. A failed
//    write leaves the record as it was and returns no action; RetryStalled() tries it again.
//  - Every transition starts a new epoch for the model. An action runs for one epoch; its
//    result for an older epoch is stale and dropped.
//  - Every update ends in exactly one outcome: committed, rolled_back, failed, or abandoned when
//    another target replaced it first.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/model_record.h"
#include "common/core/clock.h"
#include "common/core/result.h"

namespace edge::agent {

// A version to move a model to, as it arrived: from the controller's desired state or from a
// local install (`edge-agent install FILE`).
struct TargetOffer {
  std::string model;
  std::string version;
  std::string envelope;     // the signed manifest envelope, unverified
  bool local = false;
  // Controller offers: the desired state's generation. Local ones: the newest generation seen;
  // desired states up to it are then ignored for the model (the local install holds).
  uint64_t generation = 0;
};

// What verifying an envelope establishes.
struct VerifiedTarget {
  uint64_t security_version = 0;
  uint64_t bytes_total = 0;  // the sum of its blobs
};

class UpdatePorts {
 public:
  virtual ~UpdatePorts() = default;
  // Durable before it returns; `outcomes` in the same transaction.
  virtual Status Save(const ModelRecord& record, const std::vector<OutcomeEvent>& outcomes) = 0;
  // Checks the envelope's signature under the trust policy held now (an expired policy refuses
  // everything) and that it is for model:version. The error says why, in an operator's words.
  virtual Result<VerifiedTarget> Verify(const std::string& model, const std::string& version,
                                        const std::string& envelope) = 0;
};

// An action to run for one epoch of a model, with the record as it was persisted.
struct Command {
  std::string model;
  uint64_t epoch = 0;
  UpdateAction action = UpdateAction::kNone;
  ModelRecord record;
};

class UpdateDriver {
 public:
  UpdateDriver(UpdatePorts& ports, const Clock& clock) : ports_(ports), clock_(clock) {}

  // The records from state.db. Refuses a second record for one model.
  Status Load(std::vector<ModelRecord> records);
  // After a restart: every model's entry action again (resting states included: restoring the
  // active version and collecting are idempotent). A restart during probation is counted.
  // A failed write (the restart count) is an error: the agent cannot keep its promises.
  Result<std::vector<Command>> Resume();
  // A target arrived: nothing (already running or working on it, or a verdict already given),
  // a refusal (failed, reported), or a new update.
  std::vector<Command> Offer(const TargetOffer& offer);
  // The action of `epoch` finished with `event` (kFailed or kRefused with `detail`).
  std::vector<Command> Complete(const std::string& model, uint64_t epoch, UpdateEvent event,
                                const std::string& detail = "");
  // Transitions whose write failed, tried again (in model order).
  std::vector<Command> RetryStalled();
  bool HasStalled() const { return !stalled_.empty(); }

  // Progress and trouble of a running action, shown in reports; not persisted.
  void NoteProgress(const std::string& model, uint64_t epoch, uint64_t bytes_done);
  void NoteDetail(const std::string& model, uint64_t epoch, const std::string& detail);

  const std::map<std::string, ModelRecord>& records() const { return records_; }
  uint64_t Epoch(const std::string& model) const;
  // Whether any model is in the middle of an update.
  bool Busy() const;

 private:
  struct NewTarget {
    std::string version;
    std::string digest;
    std::string envelope;  // empty for a refusal
    bool local = false;
    uint64_t pinned_generation = 0;
    uint64_t bytes_total = 0;
  };
  struct Pending {
    UpdateEvent event;
    std::string detail;
    std::optional<NewTarget> target;
  };

  std::vector<Command> Apply(const std::string& model, const Pending& pending);

  UpdatePorts& ports_;
  const Clock& clock_;
  std::map<std::string, ModelRecord> records_;
  std::map<std::string, uint64_t> epochs_;
  std::map<std::string, Pending> stalled_;  // a transition whose write failed, by model
};

}  // namespace edge::agent
