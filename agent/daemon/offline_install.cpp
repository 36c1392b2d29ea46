#include "agent/daemon/offline_install.h"

#include <chrono>
#include <iostream>
#include <thread>

#include "agent/core/trust_policy_check.h"
#include "agent/store/bundle_import.h"
#include "agent/store/state_store.h"
#include "common/bundle/bundle.h"
#include "common/core/config.h"
#include "common/core/exit_codes.h"
#include "common/core/fs.h"

namespace edge::agent {
namespace {

int ExitFor(const Error& e) {
  std::cerr << "edge-agent install: " << e.message << "\n";
  return ExitCodeFor(e);
}

// The trust policy pinned at enrollment, verified again against the configured root key. An
// expired one refuses the install with the reason; the running agent still serves.
Result<bundle::TrustPolicy> PinnedPolicy(const AgentConfig& config, StateStore& store, int64_t now) {
  EDGE_ASSIGN_OR_RETURN(auto root, LoadReleaseRoot(config));
  EDGE_ASSIGN_OR_RETURN(auto stored, store.LoadTrustPolicyEnvelope());
  if (!stored)
    return Fail(ErrorCode::kFailedPrecondition, "this device has no trust policy yet: start edge-agent once so it "
                                                "enrolls, then install");
  auto check = ClassifyStoredPolicy(*stored, root, now);
  switch (check.standing) {
    case StoredPolicyStanding::kValid:
      return std::move(check.policy);
    case StoredPolicyStanding::kExpired:
      return Fail(ErrorCode::kFailedPrecondition, "refusing the install: " + check.problem);
    case StoredPolicyStanding::kBad:
      break;
  }
  return Fail(ErrorCode::kPermissionDenied, "stored trust policy: " + check.problem);
}

}  // namespace

int RunInstall(const AgentConfig& config, const InstallOptions& options, const Clock& clock) {
  auto store = StateStore::Open((config.state_dir / "state.db").string());
  if (!store) return ExitFor(store.error());
  auto policy = PinnedPolicy(config, *store, clock.NowUnix());
  if (!policy) return ExitFor(policy.error());
  ModelRepo repo(config.state_dir);
  if (auto s = repo.Prepare(); !s) return ExitFor(s.error());
  auto imported = ImportBundleFile(options.file, repo, *policy, clock.NowUnix());
  if (!imported) return ExitFor(imported.error().Wrap(options.file.string()));
  const auto& m = imported->manifest;
  const std::string ref = m.name + ":" + m.version;
  auto record = store->LoadModel(m.name);
  if (!record) return ExitFor(record.error());
  if (*record) {
    if (auto s = bundle::CheckSecurityFloor(m, (*record)->floor); !s) return ExitFor(s.error().Wrap("refusing " + ref));
    if ((*record)->active_digest == imported->envelope_digest) {
      std::cerr << "edge-agent install: " << ref << " is already the active version\n";
      return 0;
    }
  }
  const auto inbox = config.state_dir / "inbox" / (imported->envelope_digest + ".envelope");
  if (auto s = fs::CreateDirectories(inbox.parent_path(), 0700); !s) return ExitFor(s.error());
  if (auto s = fs::WriteFileAtomic(inbox, imported->envelope_bytes, 0600); !s) return ExitFor(s.error());
  std::cerr << "verified " << ref << " (" << imported->blobs.written << " blob(s) imported, " << imported->blobs.present
            << " already present); handed to edge-agent\n";
  if (!options.wait) return 0;

  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(options.timeout_seconds);
  const auto hint_at = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  bool hinted = false;
  std::string last_state;
  bool picked_up = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto r = store->LoadModel(m.name);
    if (picked_up && r && *r && (*r)->target_digest != imported->envelope_digest) {
      // Another target (an operator's deploy, another local install) replaced it first: its
      // outcome is "abandoned".
      std::cerr << "edge-agent install: " << ref << " was replaced by " << (*r)->target_version
                << " before it ended (abandoned)\n";
      return 1;
    }
    if (r && *r && (*r)->target_digest == imported->envelope_digest) {
      picked_up = true;
      const auto& rec = **r;
      const std::string state(StateName(rec.state));
      if (state != last_state) std::cerr << "  " << ref << ": " << state << "\n";
      last_state = state;
      if (IsOutcome(rec.state)) {
        if (rec.state == UpdateState::kCommitted) {
          std::cerr << ref << " is installed and serving\n";
          return 0;
        }
        std::cerr << "edge-agent install: " << ref << " " << state << ": " << rec.detail << "\n";
        return 1;
      }
    } else if (!hinted && std::chrono::steady_clock::now() > hint_at && std::filesystem::exists(inbox)) {
      std::cerr << "  waiting for edge-agent to pick it up (is it running with state_dir " << config.state_dir.string()
                << "?)\n";
      hinted = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::cerr << "edge-agent install: timed out after " << options.timeout_seconds << "s waiting for " << ref
            << (last_state.empty() ? "" : " (last state: " + last_state + ")") << "; it stays queued for the agent\n";
  return kExitTimeout;
}

}  // namespace edge::agent
