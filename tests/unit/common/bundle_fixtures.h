// Keys, policies and signed manifests shared by the bundle tests.
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "common/bundle/bundle.h"
#include "common/crypto/sha256.h"

namespace edge::bundle::testing {

inline constexpr int64_t kNow = 1'700'000'000;

inline crypto::Ed25519KeyPair NewKey() {
  auto key = crypto::GenerateEd25519();
  REQUIRE(key);
  return *key;
}

inline TrustedKey Trusted(const crypto::Ed25519KeyPair& key, std::vector<std::string> models) {
  return TrustedKey{crypto::Ed25519KeyId(key.public_key), key.public_key, std::move(models)};
}

inline Manifest SampleManifest(std::string name = "detector") {
  Manifest m;
  m.name = std::move(name);
  m.version = "1.2.0+build.7";
  m.security_version = 5;
  m.created = "2026-11-22T04:00:00Z";
  m.compat.arch = "x86_64";
  m.compat.cpu_features = {"avx2", "fma"};
  m.compat.min_engine_abi = 2;
  m.blobs.push_back(
      {"model", crypto::Sha256Hex("model bytes"), 11, "application/vnd.edgefleet.model"});
  m.blobs.push_back({"selftest", crypto::Sha256Hex("selftest bytes"), 14, "application/json"});
  m.io = {{"inputs", {{{"name", "x"}, {"shape", {1, 3, 224, 224}}, {"dtype", "int8"}}}}};
  m.health.selftest_tolerance = 0.01;
  m.health.latency_budget_us = 5000;
  m.health.soak_seconds = 600;
  m.health.max_tries = 3;
  return m;
}

inline Envelope SignedManifest(const Manifest& m, const crypto::Ed25519Seed& seed) {
  Envelope env{std::string(kManifestPayloadType), SerializeManifest(m), {}};
  REQUIRE(SignEnvelope(env, seed));
  return env;
}

inline Envelope SignedPolicy(const TrustPolicy& p, const crypto::Ed25519Seed& seed) {
  Envelope env{std::string(kTrustPolicyPayloadType), SerializeTrustPolicy(p), {}};
  REQUIRE(SignEnvelope(env, seed));
  return env;
}

inline bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace edge::bundle::testing
