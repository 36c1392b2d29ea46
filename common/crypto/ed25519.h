// Ed25519 (RFC 8032) keys and signatures for release keys and the release root key.
// Keys are handled as raw 32-byte seeds and public keys; files are PEM (PKCS#8 / SPKI).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/core/result.h"

namespace edge::crypto {

using Ed25519PublicKey = std::array<uint8_t, 32>;
using Ed25519Seed = std::array<uint8_t, 32>;
using Ed25519Signature = std::array<uint8_t, 64>;

struct Ed25519KeyPair {
  Ed25519Seed seed{};
  Ed25519PublicKey public_key{};
};

Result<Ed25519KeyPair> GenerateEd25519();
Result<Ed25519KeyPair> Ed25519FromSeed(const Ed25519Seed& seed);

Result<Ed25519Signature> Ed25519Sign(const Ed25519Seed& seed, std::string_view message);
// True only for a valid signature by `public_key` over exactly `message`.
bool Ed25519Verify(const Ed25519PublicKey& public_key, std::string_view message,
                   const Ed25519Signature& signature);

// PEM "PRIVATE KEY" (PKCS#8) and "PUBLIC KEY" (SPKI) encodings.
Result<std::string> Ed25519PrivateKeyToPem(const Ed25519Seed& seed);
Result<Ed25519KeyPair> Ed25519PrivateKeyFromPem(std::string_view pem);
Result<std::string> Ed25519PublicKeyToPem(const Ed25519PublicKey& public_key);
Result<Ed25519PublicKey> Ed25519PublicKeyFromPem(std::string_view pem);

// Stable short identifier of a public key: "ed25519:" + first 16 hex chars of sha256(key).
std::string Ed25519KeyId(const Ed25519PublicKey& public_key);

}  // namespace edge::crypto
