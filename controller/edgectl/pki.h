// `edgectl pki init`: creates a fleet's whole PKI and release keys in one directory.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/core/result.h"

namespace edge::edgectl {

struct PkiInitOptions {
  std::filesystem::path dir;
  std::string fleet;
  std::vector<std::string> controller_hosts;  // DNS names or IP addresses
  std::string operator_name = "admin";
  std::string release_key_name = "release-1";
  int64_t now = 0;
};

// Refuses to touch a directory that already holds a PKI. Private keys are written 0600.
Status PkiInit(const PkiInitOptions& options);

// Issues another operator certificate from an existing PKI directory.
Status PkiIssueOperator(const std::filesystem::path& dir, const std::string& fleet, const std::string& name);

}  // namespace edge::edgectl
