// The trust policy: which release keys may sign which models (DESIGN §4), signed by the root.
#include <algorithm>
#include <set>

#include "common/bundle/bundle.h"
#include "common/bundle/json_fields.h"
#include "common/crypto/encoding.h"
#include "common/crypto/x509.h"

namespace edge::bundle {
namespace {

using detail::FieldError;
using detail::ObjectReader;

constexpr size_t kMaxKeys = 64;

Result<TrustedKey> ParseKey(const nlohmann::json& value, const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(auto r, ObjectReader::Open(value, path));
  TrustedKey key;
  EDGE_ASSIGN_OR_RETURN(key.id, r.String("id", 128));
  EDGE_ASSIGN_OR_RETURN(auto pub_b64, r.String("public_key", 128));
  auto raw = crypto::Base64Decode(pub_b64);
  if (!raw) {
    return Fail(raw.error().Wrap(r.Field("public_key")));
  }
  if (raw->size() != key.public_key.size()) {
    return FieldError(r.Field("public_key"), "must be a raw 32-byte Ed25519 key");
  }
  std::copy(raw->begin(), raw->end(), reinterpret_cast<char*>(key.public_key.data()));
  // The id is derived, never chosen: a policy cannot alias one key's id to another key.
  const std::string expected_id = crypto::Ed25519KeyId(key.public_key);
  if (key.id != expected_id) {
    return FieldError(r.Field("id"), "'" + key.id + "' does not match the public key (expected " +
                                         expected_id + ")");
  }
  EDGE_ASSIGN_OR_RETURN(auto models, r.OptionalStringArray("models"));
  if (!models) {
    return FieldError(r.Field("models"), "missing required field");
  }
  for (const auto& m : *models) {
    if (m != "*" && !crypto::IsValidLabel(m)) {
      return FieldError(r.Field("models"), "'" + m + "' is not a model name or \"*\"");
    }
  }
  key.models = std::move(*models);
  EDGE_TRY(r.Finish());
  return key;
}

}  // namespace

Result<TrustPolicy> ParseTrustPolicy(std::string_view json) {
  EDGE_ASSIGN_OR_RETURN(auto doc, ParseJsonLimited(json, "trust policy"));
  EDGE_ASSIGN_OR_RETURN(auto r, ObjectReader::Open(doc, "trust_policy"));
  EDGE_ASSIGN_OR_RETURN(auto schema, r.Unsigned("schema"));
  if (schema != 1) {
    return FieldError("trust_policy.schema",
                      "unsupported schema " + std::to_string(schema) + " (expected 1)");
  }
  TrustPolicy p;
  EDGE_ASSIGN_OR_RETURN(p.fleet, r.String("fleet", 64));
  if (!crypto::IsValidName(p.fleet)) {
    return FieldError("trust_policy.fleet", "'" + p.fleet + "' is not a valid name");
  }
  EDGE_ASSIGN_OR_RETURN(p.version, r.Unsigned("version"));
  EDGE_ASSIGN_OR_RETURN(p.expires, r.OptionalInt("expires"));
  EDGE_ASSIGN_OR_RETURN(const nlohmann::json* keys, r.Array("keys"));
  if (keys->size() > kMaxKeys) {
    return FieldError("trust_policy.keys", "more than 64 keys");
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < keys->size(); ++i) {
    const std::string path = "trust_policy.keys[" + std::to_string(i) + "]";
    EDGE_ASSIGN_OR_RETURN(auto key, ParseKey((*keys)[i], path));
    if (!ids.insert(key.id).second) {
      return FieldError(path + ".id", "duplicate key " + key.id);
    }
    p.keys.push_back(std::move(key));
  }
  EDGE_TRY(r.Finish());
  return p;
}

std::string SerializeTrustPolicy(const TrustPolicy& policy) {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& k : policy.keys) {
    keys.push_back({{"id", crypto::Ed25519KeyId(k.public_key)},
                    {"public_key",
                     crypto::Base64Encode(std::string_view(
                         reinterpret_cast<const char*>(k.public_key.data()), k.public_key.size()))},
                    {"models", k.models}});
  }
  nlohmann::json doc = {{"schema", 1},
                        {"fleet", policy.fleet},
                        {"version", policy.version},
                        {"keys", std::move(keys)}};
  if (policy.expires) {
    doc["expires"] = *policy.expires;
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace edge::bundle
