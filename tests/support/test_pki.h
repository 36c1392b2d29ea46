// A throwaway CA for tests that need real certificates (gRPC mutual TLS): a P-256 CA made in
// memory, issuing P-256 leaf certificates for the specs a test gives.
#pragma once

#include <catch2/catch.hpp>
#include <string>
#include <utility>

#include "common/crypto/x509.h"

namespace edge::testing {

struct TestIdentity {
  crypto::PrivateKey key;
  std::string cert_pem;
  std::string key_pem;
};

struct TestPki {
  crypto::PrivateKey ca_key;
  std::string ca_pem;

  explicit TestPki(const std::string& name) {
    auto key = crypto::PrivateKey::GenerateP256();
    REQUIRE(key);
    ca_key = std::move(*key);
    crypto::CertSpec spec;
    spec.common_name = name;
    auto pem = crypto::CreateSelfSignedCa(ca_key, spec);
    REQUIRE(pem);
    ca_pem = *pem;
  }

  TestIdentity Issue(crypto::CertSpec spec) const {
    auto key = crypto::PrivateKey::GenerateP256();
    REQUIRE(key);
    auto cert = crypto::IssueCertificate(crypto::Issuer{ca_pem, &ca_key}, *key, spec);
    REQUIRE(cert);
    auto key_pem = key->ToPem();
    REQUIRE(key_pem);
    return TestIdentity{std::move(*key), *cert, *key_pem};
  }
};

}  // namespace edge::testing
