// `edgectl trust`: release-key rotation, the release root key's job (DESIGN §4).
//
//   trust rotate --policy CURRENT.json --root-key release-root.key --out NEXT.json
//                [--add-key NAME.pub[=m1,m2|*]]... [--remove-key KEYID]... [--allow KEYID=m1,m2|*]...
//                [--expires DURATION|never]
//   trust show POLICY.json --root-key release-root.pub|.key
//   trust push NEXT.json     (PushTrustPolicy on the operator endpoint)
//   trust get                (GetTrustPolicy: the policy the controller hands to agents)
//
// `rotate` is offline: it needs the root's private key and nothing else. The rotation itself is
// the pure RotateTrustPolicy below; the command around it reads files, signs, writes atomically.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "common/bundle/bundle.h"
#include "common/core/result.h"
#include "controller/edgectl/context.h"

namespace edge::edgectl {

struct KeyGrant {
  crypto::Ed25519PublicKey public_key{};
  std::vector<std::string> models;  // model names, or {"*"}
};

struct ModelGrant {
  std::string key_id;
  std::vector<std::string> models;
};

struct RotationChanges {
  std::vector<KeyGrant> add;
  std::vector<std::string> remove;  // key ids
  std::vector<ModelGrant> allow;    // replaces the key's model list
  // Unset: the current policy's setting must be "never" (else the caller must choose).
  // Set to nullopt: no expiry. Set to a value: seconds from `now`.
  std::optional<std::optional<int64_t>> expires_in;
};

// Version N+1 of `current` with `changes` applied in order: add, remove, allow. Refuses (with
// kInvalidArgument naming the key or model) a key that is already in the policy or added twice,
// an unknown key id in --remove-key or --allow, a key removed and allowed at once, a bad model
// list, a result with no keys or more than 64, and an unset expiry when the current one expires.
// The fleet stays the same. `current` must already have been verified against the root.
Result<bundle::TrustPolicy> RotateTrustPolicy(const bundle::TrustPolicy& current, const RotationChanges& changes,
                                              int64_t now);

// "a,b" or "*" → the model list; refuses empty names, non-labels, duplicates, and "*" mixed with names.
Result<std::vector<std::string>> ParseModelList(const std::string& text);

// What changed, one line per key (+ added, - removed, ~ models changed, space: unchanged), after
// a header line "trust policy vN -> vN+1 (fleet F)" and the expiry.
std::string DescribeRotation(const bundle::TrustPolicy& current, const bundle::TrustPolicy& next);
// Version, fleet, expiry (and whether it has passed at `now`), keys and their models.
std::string DescribePolicy(const bundle::TrustPolicy& policy, int64_t now);

// Adds `trust` to `app`. `context` gives the context the global flags select, when a command
// runs; exit_code receives its result.
void RegisterTrustCommands(CLI::App& app, const std::string& output_format, std::function<Result<Context>()> context,
                           int& exit_code);

}  // namespace edge::edgectl
