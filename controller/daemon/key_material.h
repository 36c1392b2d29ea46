// Start-up checks of the controller's key material, made before any listener opens: a
// controller whose keys cannot work, or can be read by anyone, refuses to start (exit 78) with
// one line naming the config key and the file, instead of starting "ready" and failing every
// enrollment or handshake later.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string_view>

#include "common/core/result.h"
#include "controller/daemon/config.h"

namespace edge::controller {

// A private key file must give other users no access and its group no write access (0600 or
// 0640: the packages install keys root:edge-controller 0640). kBadConfig naming `key` and `path`.
Status CheckPrivateKeyFileMode(std::string_view key, const std::filesystem::path& path);

// The whole set, at unix time `now`: both private key files' modes; the fleet CA key is the
// CA certificate's key; the server certificate is issued by the fleet CA and valid now; the
// server key is the server certificate's key; the operator CA certificate parses. Errors are
// kBadConfig.
Status CheckKeyMaterial(const ControllerConfig& config, int64_t now);

}  // namespace edge::controller
