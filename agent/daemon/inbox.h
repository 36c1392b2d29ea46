// The inbox of local installs: `edge-agent install FILE` imports a bundle's blobs into the blob
// store and leaves its envelope as <state_dir>/inbox/*.envelope for the running agent.
#pragma once

#include <filesystem>
#include <vector>

#include "agent/core/update_driver.h"

namespace edge::agent {

// Reads and removes every envelope in `dir`, oldest name first, as local offers pinned to
// `generation`. An unreadable one is logged (named) and removed.
std::vector<TargetOffer> TakeInbox(const std::filesystem::path& dir, uint64_t generation);

}  // namespace edge::agent
