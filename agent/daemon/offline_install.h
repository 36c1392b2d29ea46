// `edge-agent install FILE` (DESIGN §5): installs a single-file bundle on an air-gapped device
// through exactly the path a controller-delivered version takes.
//
// The command verifies the file's envelope against the trust policy this device pinned at
// enrollment and checks the anti-rollback floor (so an operator at the console gets the refusal
// at once), imports the blobs into the agent's blob store (each size- and sha256-checked), and
// leaves the envelope in <state_dir>/inbox/. The running agent picks it up within a second and
// runs it through its update machine: verify again, install, health gate, probation, commit
// or roll back. The outcome is reported to the controller when it is reachable again.
#pragma once

#include <filesystem>

#include "agent/daemon/config.h"
#include "common/core/clock.h"

namespace edge::agent {

struct InstallOptions {
  std::filesystem::path file;
  bool wait = true;             // wait for the agent's outcome
  int64_t timeout_seconds = 300;
};

// Returns the process exit code: 0 committed (or staged, without wait), 1 refused, rolled back,
// failed or timed out, 77 signature/trust refusal, 78 bad configuration.
int RunInstall(const AgentConfig& config, const InstallOptions& options, const Clock& clock);

}  // namespace edge::agent
