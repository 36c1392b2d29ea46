// The model manifest: the signed description of one model version (DESIGN §5).
#include <cctype>
#include <set>

#include "common/bundle/bundle.h"
#include "common/bundle/json_fields.h"
#include "common/crypto/x509.h"

namespace edge::bundle {
namespace {

using detail::FieldError;
using detail::ObjectReader;

constexpr uint64_t kMaxBlobSize = uint64_t{4} << 30;  // 4 GiB
constexpr size_t kMaxBlobs = 64;

// Versions become directory names on agents (models/<name>/<version>, beside the `current` and
// `previous` links): they start with a letter or digit ("..", ".x.tmp" impossible) and may not
// take the links' names.
bool IsValidVersion(std::string_view v) {
  if (v.empty() || v.size() > 64 || v == "current" || v == "previous") {
    return false;
  }
  if (!std::isalnum(static_cast<unsigned char>(v.front()))) {
    return false;
  }
  for (char c : v) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '+' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

bool IsLowerHexDigest(std::string_view d) {
  if (d.size() != 64) {
    return false;
  }
  for (char c : d) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

bool IsPrintableAscii(std::string_view s) {
  for (char c : s) {
    if (c < 0x20 || c > 0x7e) {
      return false;
    }
  }
  return true;
}

Status RequireName(const std::string& field, std::string_view value) {
  if (!crypto::IsValidName(value)) {
    return FieldError(field,
                      "'" + std::string(value) + "' is not a valid name ([A-Za-z0-9._-]{1,64})");
  }
  return Ok();
}

Result<Compat> ParseCompat(const nlohmann::json& value) {
  EDGE_ASSIGN_OR_RETURN(auto r, ObjectReader::Open(value, "manifest.compat"));
  Compat c;
  EDGE_ASSIGN_OR_RETURN(auto arch, r.OptionalString("arch", 64));
  if (arch && !arch->empty()) {
    EDGE_TRY(RequireName(r.Field("arch"), *arch));
    c.arch = *arch;
  }
  EDGE_ASSIGN_OR_RETURN(auto features, r.OptionalStringArray("cpu_features", 64));
  if (features) {
    for (const auto& f : *features) {
      EDGE_TRY(RequireName(r.Field("cpu_features"), f));
    }
    c.cpu_features = std::move(*features);
  }
  EDGE_ASSIGN_OR_RETURN(auto abi, r.OptionalUnsigned("min_engine_abi", UINT32_MAX));
  if (abi) {
    c.min_engine_abi = static_cast<uint32_t>(*abi);
  }
  EDGE_TRY(r.Finish());
  return c;
}

Result<HealthSpec> ParseHealth(const nlohmann::json& value) {
  EDGE_ASSIGN_OR_RETURN(auto r, ObjectReader::Open(value, "manifest.health"));
  HealthSpec h;
  EDGE_ASSIGN_OR_RETURN(auto tol, r.OptionalNumber("selftest_tolerance"));
  if (tol) {
    if (*tol < 0) {
      return FieldError(r.Field("selftest_tolerance"), "must not be negative");
    }
    h.selftest_tolerance = *tol;
  }
  EDGE_ASSIGN_OR_RETURN(auto latency, r.OptionalUnsigned("latency_budget_us"));
  if (latency) {
    h.latency_budget_us = *latency;
  }
  EDGE_ASSIGN_OR_RETURN(auto soak, r.OptionalUnsigned("soak_seconds"));
  if (soak) {
    h.soak_seconds = *soak;
  }
  EDGE_ASSIGN_OR_RETURN(auto tries, r.OptionalUnsigned("max_tries", UINT32_MAX));
  if (tries) {
    if (*tries == 0) {
      return FieldError(r.Field("max_tries"), "must be at least 1");
    }
    h.max_tries = static_cast<uint32_t>(*tries);
  }
  EDGE_TRY(r.Finish());
  return h;
}

Result<OutputQualityFigures> ParseOutputQuality(const nlohmann::json& value, const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(auto r, ObjectReader::Open(value, path));
  OutputQualityFigures o;
  EDGE_ASSIGN_OR_RETURN(o.output, r.String("output", 256));
  EDGE_ASSIGN_OR_RETURN(o.top1_agreement, r.OptionalNumber("top1_agreement"));
  if (o.top1_agreement && !(*o.top1_agreement >= 0.0 && *o.top1_agreement <= 1.0)) {
    return FieldError(r.Field("top1_agreement"), "must be between 0 and 1");
  }
  EDGE_ASSIGN_OR_RETURN(auto cosine, r.OptionalNumber("cosine"));
  if (cosine) o.cosine = *cosine;
  EDGE_ASSIGN_OR_RETURN(o.snr_db, r.OptionalNumber("snr_db"));
  EDGE_ASSIGN_OR_RETURN(auto error, r.OptionalNumber("max_abs_error"));
  if (error) {
    if (*error < 0) return FieldError(r.Field("max_abs_error"), "must not be negative");
    o.max_abs_error = *error;
  }
  EDGE_TRY(r.Finish());
  return o;
}

Result<QualityRecord> ParseQuality(const nlohmann::json& value) {
  EDGE_ASSIGN_OR_RETURN(auto r, ObjectReader::Open(value, "manifest.quality"));
  QualityRecord q;
  for (auto [key, digest] : {std::pair{"reference_digest", &q.reference_digest}, std::pair{"eval_digest", &q.eval_digest}}) {
    EDGE_ASSIGN_OR_RETURN(*digest, r.String(key, 64));
    if (!IsLowerHexDigest(*digest)) return FieldError(r.Field(key), "must be 64 lower-case hex characters (sha256)");
  }
  EDGE_ASSIGN_OR_RETURN(q.samples, r.Unsigned("samples"));
  EDGE_ASSIGN_OR_RETURN(const nlohmann::json* outputs, r.Array("outputs"));
  if (outputs->size() > 256) return FieldError(r.Field("outputs"), "has more than 256 entries");
  for (size_t i = 0; i < outputs->size(); ++i) {
    EDGE_ASSIGN_OR_RETURN(auto o, ParseOutputQuality((*outputs)[i], r.Field("outputs") + "[" + std::to_string(i) + "]"));
    q.outputs.push_back(std::move(o));
  }
  EDGE_TRY(r.Finish());
  return q;
}

nlohmann::json QualityJson(const QualityRecord& q) {
  nlohmann::json outputs = nlohmann::json::array();
  for (const auto& o : q.outputs) {
    nlohmann::json j = {{"output", o.output}, {"cosine", o.cosine}, {"max_abs_error", o.max_abs_error}};
    if (o.top1_agreement) j["top1_agreement"] = *o.top1_agreement;
    if (o.snr_db) j["snr_db"] = *o.snr_db;
    outputs.push_back(std::move(j));
  }
  return {{"reference_digest", q.reference_digest},
          {"eval_digest", q.eval_digest},
          {"samples", q.samples},
          {"outputs", std::move(outputs)}};
}

Result<BlobRef> ParseBlob(const nlohmann::json& value, const std::string& path) {
  EDGE_ASSIGN_OR_RETURN(auto r, ObjectReader::Open(value, path));
  BlobRef b;
  EDGE_ASSIGN_OR_RETURN(b.role, r.String("role", 64));
  EDGE_TRY(RequireName(r.Field("role"), b.role));
  EDGE_ASSIGN_OR_RETURN(b.digest, r.String("digest", 64));
  if (!IsLowerHexDigest(b.digest)) {
    return FieldError(r.Field("digest"), "must be 64 lower-case hex characters (sha256)");
  }
  EDGE_ASSIGN_OR_RETURN(b.size, r.Unsigned("size", kMaxBlobSize));
  EDGE_ASSIGN_OR_RETURN(auto media, r.OptionalString("media_type", 128));
  if (media) {
    if (!IsPrintableAscii(*media)) {
      return FieldError(r.Field("media_type"), "must be printable ASCII");
    }
    b.media_type = *media;
  }
  EDGE_TRY(r.Finish());
  return b;
}

Result<std::vector<BlobRef>> ParseBlobs(const nlohmann::json& blobs) {
  if (blobs.size() > kMaxBlobs) {
    return FieldError("manifest.blobs", "more than " + std::to_string(kMaxBlobs) + " blobs");
  }
  std::vector<BlobRef> out;
  std::set<std::string> digests;
  std::set<std::string> roles;
  for (size_t i = 0; i < blobs.size(); ++i) {
    const std::string path = "manifest.blobs[" + std::to_string(i) + "]";
    EDGE_ASSIGN_OR_RETURN(auto blob, ParseBlob(blobs[i], path));
    if (!digests.insert(blob.digest).second) {
      return FieldError(path + ".digest", "duplicate blob digest");
    }
    // One blob per role: FindBlob must never have to guess which "model" is meant.
    if (!roles.insert(blob.role).second) {
      return FieldError(path + ".role", "duplicate role '" + blob.role + "'");
    }
    out.push_back(std::move(blob));
  }
  if (roles.count("model") == 0) {
    return FieldError("manifest.blobs", "no blob with role 'model'");
  }
  return out;
}

}  // namespace

Result<Manifest> ParseManifest(std::string_view json) {
  EDGE_ASSIGN_OR_RETURN(auto doc, ParseJsonLimited(json, "manifest"));
  EDGE_ASSIGN_OR_RETURN(auto r, ObjectReader::Open(doc, "manifest"));
  EDGE_ASSIGN_OR_RETURN(auto schema, r.Unsigned("schema"));
  if (schema != 1) {
    return FieldError("manifest.schema",
                      "unsupported schema " + std::to_string(schema) + " (expected 1)");
  }
  Manifest m;
  EDGE_ASSIGN_OR_RETURN(m.name, r.String("name", 64));
  if (!crypto::IsValidLabel(m.name))
    return FieldError("manifest.name", "'" + m.name + "' is not a valid model name (" + crypto::kLabelRule + ")");
  EDGE_ASSIGN_OR_RETURN(m.version, r.String("version", 64));
  if (!IsValidVersion(m.version)) {
    return FieldError("manifest.version", "'" + m.version + "' is not a version: [A-Za-z0-9._+-]{1,64}, starting with a letter or digit, not 'current' or 'previous'");
  }
  EDGE_ASSIGN_OR_RETURN(m.security_version, r.Unsigned("security_version"));
  EDGE_ASSIGN_OR_RETURN(auto created, r.OptionalString("created", 64));
  if (created) {
    if (!IsPrintableAscii(*created)) {
      return FieldError("manifest.created", "must be printable ASCII (RFC 3339)");
    }
    m.created = *created;
  }
  EDGE_ASSIGN_OR_RETURN(m.expires, r.OptionalInt("expires"));
  if (const auto* compat = r.Find("compat")) {
    EDGE_ASSIGN_OR_RETURN(m.compat, ParseCompat(*compat));
  }
  EDGE_ASSIGN_OR_RETURN(const nlohmann::json* blobs, r.Array("blobs"));
  EDGE_ASSIGN_OR_RETURN(m.blobs, ParseBlobs(*blobs));
  if (const auto* io = r.Find("io")) {
    if (!io->is_object()) {
      return FieldError("manifest.io", "must be a JSON object");
    }
    m.io = *io;
  }
  if (const auto* health = r.Find("health")) {
    EDGE_ASSIGN_OR_RETURN(m.health, ParseHealth(*health));
  }
  if (const auto* quality = r.Find("quality")) {
    EDGE_ASSIGN_OR_RETURN(m.quality, ParseQuality(*quality));
  }
  EDGE_TRY(r.Finish());
  return m;
}

std::string SerializeManifest(const Manifest& m) {
  nlohmann::json blobs = nlohmann::json::array();
  for (const auto& b : m.blobs) {
    blobs.push_back(
        {{"role", b.role}, {"digest", b.digest}, {"size", b.size}, {"media_type", b.media_type}});
  }
  nlohmann::json doc = {
      {"schema", 1},
      {"name", m.name},
      {"version", m.version},
      {"security_version", m.security_version},
      {"created", m.created},
      {"compat",
       {{"arch", m.compat.arch},
        {"cpu_features", m.compat.cpu_features},
        {"min_engine_abi", m.compat.min_engine_abi}}},
      {"blobs", std::move(blobs)},
      {"io", m.io.is_object() ? m.io : nlohmann::json::object()},
      {"health",
       {{"selftest_tolerance", m.health.selftest_tolerance},
        {"latency_budget_us", m.health.latency_budget_us},
        {"soak_seconds", m.health.soak_seconds},
        {"max_tries", m.health.max_tries}}},
  };
  if (m.expires) {
    doc["expires"] = *m.expires;
  }
  if (m.quality) {
    doc["quality"] = QualityJson(*m.quality);
  }
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const BlobRef* FindBlob(const Manifest& manifest, std::string_view role) {
  for (const auto& b : manifest.blobs) {
    if (b.role == role) {
      return &b;
    }
  }
  return nullptr;
}

Result<Manifest> UnverifiedManifest(std::string_view envelope_json) {
  return ParseEnvelope(envelope_json).and_then([](const Envelope& e) { return ParseManifest(e.payload); });
}

}  // namespace edge::bundle
