// edgectl contexts: which controller to talk to and with which operator certificate.
// File: --config, else $EDGECTL_CONFIG, else ~/.config/edgectl/config. JSON:
//   {"current_context": "acme",
//    "contexts": {"acme": {"controller": "ctl.example:7445", "ca": "fleet-ca.pem",
//                          "cert": "admin.pem", "key": "admin.key",
//                          "connect_timeout_ms": 10000}}}
// Relative paths are resolved against the config file's directory; connect_timeout_ms is
// optional.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/core/result.h"
#include "common/tls/connect_timeouts.h"

namespace edge::edgectl {

struct Context {
  std::string name;
  std::string controller;
  std::filesystem::path ca;
  std::filesystem::path cert;
  std::filesystem::path key;
  // One connection attempt to the controller: TCP, TLS and HTTP/2 set-up.
  std::chrono::milliseconds connect_timeout = tls::kDefaultConnectTimeout;
};

std::filesystem::path DefaultConfigPath();
// Errors are kBadConfig and name the file and the problem.
Result<Context> LoadContext(const std::filesystem::path& config_file, const std::string& context_name);
// Writes a config with a single context (used by `pki init`).
Status WriteContextFile(const std::filesystem::path& config_file, const Context& context);

// `edgectl config get-contexts`: every context of the file, each checked as LoadContext checks
// it (a broken one fails the whole listing, naming it), and which one is current.
struct ContextList {
  std::string current;
  std::vector<Context> contexts;  // by name
};
Result<ContextList> ListContexts(const std::filesystem::path& config_file);
// `edgectl config use-context NAME`: sets current_context, keeping everything else in the
// file as it was; written atomically (0600). An unknown name is kBadConfig and changes nothing.
Status UseContext(const std::filesystem::path& config_file, const std::string& name);

}  // namespace edge::edgectl
