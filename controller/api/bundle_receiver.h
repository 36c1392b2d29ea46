// Receives a pushed bundle: verifies the envelope against the trust policy before accepting any
// blob bytes, then streams each blob to a temp file while hashing it, and moves it into the
// content-addressed store only when its size and digest match the signed manifest.
#pragma once

#include <cstdio>
#include <filesystem>
#include <optional>
#include <set>
#include <string>

#include "common/bundle/bundle.h"
#include "common/crypto/sha256.h"
#include "controller/store/types.h"

namespace edge::controller {

class BundleReceiver {
 public:
  BundleReceiver(std::filesystem::path blob_dir, const bundle::TrustPolicy& policy, int64_t now)
      : blob_dir_(std::move(blob_dir)), policy_(policy), now_(now) {}
  ~BundleReceiver();
  BundleReceiver(const BundleReceiver&) = delete;
  BundleReceiver& operator=(const BundleReceiver&) = delete;

  Status OnEnvelope(const std::string& envelope_bytes);
  Status OnBlobPart(const std::string& digest, const std::string& data);
  // Completes the last blob and checks every blob of the manifest is present in the store.
  Result<VersionRecord> Complete(const std::string& actor);

 private:
  Status FinishCurrentBlob();
  void DiscardCurrent();

  std::filesystem::path blob_dir_;
  const bundle::TrustPolicy& policy_;
  int64_t now_;
  std::string envelope_bytes_;
  std::optional<bundle::Manifest> manifest_;
  std::string signer_;
  std::set<std::string> received_;
  // Blob being received.
  const bundle::BlobRef* current_ = nullptr;
  std::filesystem::path temp_path_;
  std::FILE* temp_ = nullptr;
  std::optional<crypto::Sha256> hasher_;
  uint64_t current_bytes_ = 0;
};

}  // namespace edge::controller
