// DSSE envelopes (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md).
#include <algorithm>

#include "common/bundle/bundle.h"
#include "common/bundle/json_fields.h"
#include "common/crypto/encoding.h"

namespace edge::bundle {

using detail::ObjectReader;

inline constexpr size_t kMaxSignatures = 16;

std::string PreAuthEncoding(std::string_view payload_type, std::string_view payload) {
  std::string out = "DSSEv1 ";
  out += std::to_string(payload_type.size());
  out += ' ';
  out += payload_type;
  out += ' ';
  out += std::to_string(payload.size());
  out += ' ';
  out += payload;
  return out;
}

Result<Envelope> ParseEnvelope(std::string_view json) {
  EDGE_ASSIGN_OR_RETURN(auto doc, ParseJsonLimited(json, "envelope"));
  EDGE_ASSIGN_OR_RETURN(auto reader, ObjectReader::Open(doc, "envelope"));
  Envelope env;
  EDGE_ASSIGN_OR_RETURN(env.payload_type, reader.String("payloadType"));
  if (env.payload_type.empty()) {
    return detail::FieldError("envelope.payloadType", "must not be empty");
  }
  EDGE_ASSIGN_OR_RETURN(auto payload_b64, reader.String("payload", kMaxEnvelopeBytes));
  auto payload = crypto::Base64Decode(payload_b64);
  if (!payload) {
    return Fail(payload.error().Wrap("envelope.payload"));
  }
  env.payload = std::move(*payload);
  EDGE_ASSIGN_OR_RETURN(const nlohmann::json* sigs, reader.Array("signatures"));
  if (sigs->size() > kMaxSignatures) {
    return detail::FieldError("envelope.signatures",
                              "more than " + std::to_string(kMaxSignatures) + " signatures");
  }
  for (size_t i = 0; i < sigs->size(); ++i) {
    const std::string path = "envelope.signatures[" + std::to_string(i) + "]";
    EDGE_ASSIGN_OR_RETURN(auto sig_reader, ObjectReader::Open((*sigs)[i], path));
    Signature sig;
    EDGE_ASSIGN_OR_RETURN(sig.key_id, sig_reader.String("keyid", 128));
    EDGE_ASSIGN_OR_RETURN(auto sig_b64, sig_reader.String("sig", 128));
    auto raw = crypto::Base64Decode(sig_b64);
    if (!raw) {
      return Fail(raw.error().Wrap(path + ".sig"));
    }
    if (raw->size() != sig.sig.size()) {
      return detail::FieldError(path + ".sig", "must be a 64-byte Ed25519 signature, got " +
                                                   std::to_string(raw->size()) + " bytes");
    }
    std::copy(raw->begin(), raw->end(), reinterpret_cast<char*>(sig.sig.data()));
    EDGE_TRY(sig_reader.Finish());
    env.signatures.push_back(std::move(sig));
  }
  EDGE_TRY(reader.Finish());
  return env;
}

std::string SerializeEnvelope(const Envelope& envelope) {
  nlohmann::json sigs = nlohmann::json::array();
  for (const auto& s : envelope.signatures) {
    sigs.push_back({{"keyid", s.key_id},
                    {"sig", crypto::Base64Encode(std::string_view(
                                reinterpret_cast<const char*>(s.sig.data()), s.sig.size()))}});
  }
  nlohmann::json doc = {{"payloadType", envelope.payload_type},
                        {"payload", crypto::Base64Encode(envelope.payload)},
                        {"signatures", std::move(sigs)}};
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status SignEnvelope(Envelope& envelope, const crypto::Ed25519Seed& seed) {
  EDGE_ASSIGN_OR_RETURN(auto pair, crypto::Ed25519FromSeed(seed));
  EDGE_ASSIGN_OR_RETURN(auto sig, crypto::Ed25519Sign(seed, PreAuthEncoding(envelope.payload_type,
                                                                            envelope.payload)));
  envelope.signatures.push_back(Signature{crypto::Ed25519KeyId(pair.public_key), sig});
  return Ok();
}

}  // namespace edge::bundle
