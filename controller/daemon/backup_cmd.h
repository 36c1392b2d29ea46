// The `backup` and `restore` subcommands of edge-controller (controller/backup does the work;
// this is what the operator sees: progress on a terminal, one summary or error line).
#pragma once

#include <string>

#include "controller/daemon/config.h"

namespace edge::controller {

struct BackupCommand {
  std::string to;
  bool replace = false;
};

struct RestoreCommand {
  std::string from;
  bool force = false;
  bool dry_run = false;  // verify only
};

// Exit codes: 0 done, 1 failed or refused (the line says why; nothing was changed), 78 bad
// configuration (from the caller).
int RunBackup(const ControllerConfig& config, const BackupCommand& command);
int RunRestore(const ControllerConfig& config, const RestoreCommand& command);

}  // namespace edge::controller
