#include "common/crypto/ed25519.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"

using namespace edge::crypto;

namespace {

template <size_t N>
std::array<uint8_t, N> FromHex(std::string_view hex) {
  auto raw = HexDecode(hex);
  REQUIRE(raw);
  REQUIRE(raw->size() == N);
  std::array<uint8_t, N> out{};
  std::copy(raw->begin(), raw->end(), reinterpret_cast<char*>(out.data()));
  return out;
}

struct Rfc8032Vector {
  const char* name;
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 §7.1.
const Rfc8032Vector kVectors[] = {
    {"TEST 1", "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b"
     "46bd25bf5f0595bbe24655141438e7a100b"},
    {"TEST 2", "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11"
     "d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"TEST 3", "c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc"
     "6594a7c15e9716ed28dc027beceea1ec40a"},
    {"TEST SHA(abc)", "833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42",
     "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3fee"
     "bbd454d4423643ce80e2a9ac94fa54ca49f",
     "dc2a4459e7369633a52b1bf277839a00201009a3efbf3ecb69bea2186c26b58909351fc9ac90b3ecfdfbc7c66431e"
     "0303dca179c138ac17ad9bef1177331a704"},
};

}  // namespace

TEST_CASE("Ed25519 RFC 8032 vectors", "[crypto][ed25519]") {
  for (const auto& v : kVectors) {
    SECTION(v.name) {
      auto seed = FromHex<32>(v.seed);
      auto pair = Ed25519FromSeed(seed);
      REQUIRE(pair);
      CHECK(HexEncode(pair->public_key) == v.public_key);
      auto message = HexDecode(v.message);
      REQUIRE(message);
      auto sig = Ed25519Sign(seed, *message);
      REQUIRE(sig);
      CHECK(HexEncode(*sig) == v.signature);
      CHECK(Ed25519Verify(pair->public_key, *message, *sig));

      auto bad_sig = *sig;
      bad_sig[10] ^= 0x01;
      CHECK_FALSE(Ed25519Verify(pair->public_key, *message, bad_sig));
      std::string bad_message = *message + "x";
      CHECK_FALSE(Ed25519Verify(pair->public_key, bad_message, *sig));
      if (!message->empty()) {
        std::string flipped = *message;
        flipped[0] = static_cast<char>(flipped[0] ^ 0x01);
        CHECK_FALSE(Ed25519Verify(pair->public_key, flipped, *sig));
      }
      auto bad_key = pair->public_key;
      bad_key[0] ^= 0x01;
      CHECK_FALSE(Ed25519Verify(bad_key, *message, *sig));
    }
  }
}

TEST_CASE("Ed25519 generated keys sign and verify", "[crypto][ed25519]") {
  auto a = GenerateEd25519();
  auto b = GenerateEd25519();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(a->seed != b->seed);
  auto sig = Ed25519Sign(a->seed, "hello");
  REQUIRE(sig);
  CHECK(Ed25519Verify(a->public_key, "hello", *sig));
  CHECK_FALSE(Ed25519Verify(b->public_key, "hello", *sig));
}

TEST_CASE("Ed25519 PEM round trips", "[crypto][ed25519]") {
  auto pair = GenerateEd25519();
  REQUIRE(pair);
  auto priv_pem = Ed25519PrivateKeyToPem(pair->seed);
  REQUIRE(priv_pem);
  CHECK(priv_pem->find("-----BEGIN PRIVATE KEY-----") == 0);
  auto back = Ed25519PrivateKeyFromPem(*priv_pem);
  REQUIRE(back);
  CHECK(back->seed == pair->seed);
  CHECK(back->public_key == pair->public_key);

  auto pub_pem = Ed25519PublicKeyToPem(pair->public_key);
  REQUIRE(pub_pem);
  CHECK(pub_pem->find("-----BEGIN PUBLIC KEY-----") == 0);
  auto pub = Ed25519PublicKeyFromPem(*pub_pem);
  REQUIRE(pub);
  CHECK(*pub == pair->public_key);
}

TEST_CASE("Ed25519 PEM parsing rejects garbage and wrong key types", "[crypto][ed25519]") {
  CHECK_FALSE(Ed25519PrivateKeyFromPem("not a pem"));
  CHECK_FALSE(Ed25519PublicKeyFromPem(""));
  CHECK_FALSE(
      Ed25519PublicKeyFromPem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"));
  // A public key PEM is not a private key.
  auto pair = GenerateEd25519();
  REQUIRE(pair);
  auto pub_pem = Ed25519PublicKeyToPem(pair->public_key);
  REQUIRE(pub_pem);
  CHECK_FALSE(Ed25519PrivateKeyFromPem(*pub_pem));
}

TEST_CASE("Ed25519 key id is stable and short", "[crypto][ed25519]") {
  auto pub = FromHex<32>("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  auto id = Ed25519KeyId(pub);
  CHECK(id.rfind("ed25519:", 0) == 0);
  CHECK(id.size() == 8 + 16);
  CHECK(id == Ed25519KeyId(pub));
  std::string_view raw(reinterpret_cast<const char*>(pub.data()), pub.size());
  CHECK(id.substr(8) == Sha256Hex(raw).substr(0, 16));
}
