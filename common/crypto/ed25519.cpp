#include "common/crypto/ed25519.h"

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "common/crypto/encoding.h"
#include "common/crypto/openssl_handles.h"
#include "common/crypto/sha256.h"

namespace edge::crypto {
namespace {

using detail::OpenSslError;
using detail::PkeyPtr;

Result<PkeyPtr> PrivateFromSeed(const Ed25519Seed& seed) {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!key) {
    return Fail(ErrorCode::kInternal, "ed25519: loading private seed failed: " + OpenSslError());
  }
  return key;
}

Result<Ed25519KeyPair> PairFromKey(EVP_PKEY* key) {
  if (EVP_PKEY_get_id(key) != EVP_PKEY_ED25519) {
    return Fail(ErrorCode::kInvalidArgument, "ed25519: key is not an Ed25519 key");
  }
  Ed25519KeyPair pair;
  size_t seed_len = pair.seed.size();
  size_t pub_len = pair.public_key.size();
  if (EVP_PKEY_get_raw_private_key(key, pair.seed.data(), &seed_len) != 1 || seed_len != 32 ||
      EVP_PKEY_get_raw_public_key(key, pair.public_key.data(), &pub_len) != 1 || pub_len != 32) {
    return Fail(ErrorCode::kInternal, "ed25519: extracting raw key failed: " + OpenSslError());
  }
  return pair;
}

}  // namespace

Result<Ed25519KeyPair> GenerateEd25519() {
  Ed25519Seed seed{};
  if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1) {
    return Fail(ErrorCode::kInternal, "ed25519: random seed generation failed: " + OpenSslError());
  }
  return Ed25519FromSeed(seed);
}

Result<Ed25519KeyPair> Ed25519FromSeed(const Ed25519Seed& seed) {
  EDGE_ASSIGN_OR_RETURN(auto key, PrivateFromSeed(seed));
  return PairFromKey(key.get());
}

Result<Ed25519Signature> Ed25519Sign(const Ed25519Seed& seed, std::string_view message) {
  EDGE_ASSIGN_OR_RETURN(auto key, PrivateFromSeed(seed));
  detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  Ed25519Signature sig{};
  size_t sig_len = sig.size();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &sig_len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      sig_len != sig.size()) {
    return Fail(ErrorCode::kInternal, "ed25519: signing failed: " + OpenSslError());
  }
  return sig;
}

bool Ed25519Verify(const Ed25519PublicKey& public_key, std::string_view message,
                   const Ed25519Signature& signature) {
  PkeyPtr key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  detail::MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok =
      key && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
      EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                       reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
  ERR_clear_error();
  return ok;
}

Result<std::string> Ed25519PrivateKeyToPem(const Ed25519Seed& seed) {
  EDGE_ASSIGN_OR_RETURN(auto key, PrivateFromSeed(seed));
  detail::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio ||
      PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Fail(ErrorCode::kInternal, "ed25519: writing private key PEM failed: " + OpenSslError());
  }
  return detail::BioToString(bio.get());
}

Result<Ed25519KeyPair> Ed25519PrivateKeyFromPem(std::string_view pem) {
  auto bio = detail::MemBio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    return Fail(ErrorCode::kInvalidArgument,
                "ed25519: parsing private key PEM failed: " + OpenSslError());
  }
  return PairFromKey(key.get());
}

Result<std::string> Ed25519PublicKeyToPem(const Ed25519PublicKey& public_key) {
  PkeyPtr key(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  detail::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!key || !bio || PEM_write_bio_PUBKEY(bio.get(), key.get()) != 1) {
    return Fail(ErrorCode::kInternal, "ed25519: writing public key PEM failed: " + OpenSslError());
  }
  return detail::BioToString(bio.get());
}

Result<Ed25519PublicKey> Ed25519PublicKeyFromPem(std::string_view pem) {
  auto bio = detail::MemBio(pem);
  PkeyPtr key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) {
    return Fail(ErrorCode::kInvalidArgument,
                "ed25519: parsing public key PEM failed: " + OpenSslError());
  }
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519) {
    return Fail(ErrorCode::kInvalidArgument, "ed25519: public key PEM holds a non-Ed25519 key");
  }
  Ed25519PublicKey out{};
  size_t len = out.size();
  if (EVP_PKEY_get_raw_public_key(key.get(), out.data(), &len) != 1 || len != out.size()) {
    return Fail(ErrorCode::kInternal,
                "ed25519: extracting raw public key failed: " + OpenSslError());
  }
  return out;
}

std::string Ed25519KeyId(const Ed25519PublicKey& public_key) {
  Sha256 h;
  h.Update(public_key);
  auto d = h.Final();
  return "ed25519:" + HexEncode(d).substr(0, 16);
}

}  // namespace edge::crypto
