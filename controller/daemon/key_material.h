// Start-up checks of the controller's key material, made before any listener opens: a
// controller whose keys cannot work, or can be read by anyone, refuses to start (exit 78) with
// one line naming the config key and the file, instead of starting "ready" and failing every
// enrollment or handshake later.
#pragma once

#include <cstdint>

#include "common/core/result.h"
#include "controller/daemon/config.h"
#include "controller/daemon/private_key_file.h"

namespace edge::controller {

// The whole set, at unix time `now`, for a controller running as `self`: both private key
// files pass ReadPrivateKeyFile (private_key_file.h: owner, group, mode, path); the fleet CA key is the
// CA certificate's key; the server certificate is issued by the fleet CA and valid now; the
// server key is the server certificate's key; the operator CA certificate parses. Errors are
// kBadConfig.
Status CheckKeyMaterial(const ControllerConfig& config, int64_t now, const ServiceUser& self = ServiceUser::Current());

}  // namespace edge::controller
