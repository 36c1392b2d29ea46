// edgectl contexts: which controller to talk to and with which operator certificate.
// File: --config, else $EDGECTL_CONFIG, else ~/.config/edgectl/config. JSON:
//   {"current_context": "acme",
//    "contexts": {"acme": {"controller": "ctl.example:7445", "ca": "fleet-ca.pem",
//                          "cert": "admin.pem", "key": "admin.key"}}}
// Relative paths are resolved against the config file's directory.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "common/core/result.h"

namespace edge::edgectl {

struct Context {
  std::string name;
  std::string controller;
  std::filesystem::path ca;
  std::filesystem::path cert;
  std::filesystem::path key;
};

std::filesystem::path DefaultConfigPath();
// Errors are kBadConfig and name the file and the problem.
Result<Context> LoadContext(const std::filesystem::path& config_file, const std::string& context_name);
// Writes a config with a single context (used by `pki init`).
Status WriteContextFile(const std::filesystem::path& config_file, const Context& context);

}  // namespace edge::edgectl
