#include "agent/daemon/inbox.h"

#include <algorithm>

#include "common/bundle/bundle.h"
#include "common/core/fs.h"
#include "common/core/log.h"

namespace edge::agent {

std::vector<TargetOffer> TakeInbox(const std::filesystem::path& dir, uint64_t generation) {
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (auto it = std::filesystem::directory_iterator(dir, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec))
    if (it->path().extension() == ".envelope" && it->is_regular_file(ec)) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  std::vector<TargetOffer> offers;
  for (const auto& file : files) {
    auto bytes = fs::ReadFile(file, bundle::kMaxEnvelopeBytes);
    auto manifest = bytes ? bundle::UnverifiedManifest(*bytes) : Result<bundle::Manifest>(Fail(bytes.error()));
    if (!manifest) {
      log::Error("refusing a local install", {{"file", file.string()}, {"error", manifest.error().message}});
    } else {
      log::Info("local install", {{"model", manifest->name}, {"version", manifest->version}, {"file", file.string()}});
      // The same path as a controller target: signature, floor, download (the blobs are
      // already here), verify, install, health gate, probation.
      offers.push_back(TargetOffer{manifest->name, manifest->version, std::move(*bytes), true, generation});
    }
    std::filesystem::remove(file, ec);
  }
  return offers;
}

}  // namespace edge::agent
