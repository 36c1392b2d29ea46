// The air-gapped bundle file reader (ustar entries, envelope, manifest, blob streaming). Each
// input is a memfd read through /proc/self/fd/N. It is read twice: once with VerifyBlobs
// (writes nothing) and once with ImportBlobs into an empty directory on tmpfs. Properties
// (bundle_file.h): both reads agree, an import that succeeds leaves exactly the manifest's
// blobs with the declared sizes and digests, and a refused file leaves no file behind.
#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include "common/bundle/bundle_file.h"
#include "common/crypto/sha256.h"
#include "common/core/fs.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edge;
using namespace edge::bundle;
namespace stdfs = std::filesystem;

namespace {

// An empty directory per process, on tmpfs when there is one (ImportBlobs fsyncs).
class BlobDir {
 public:
  BlobDir() {
    std::error_code ec;
    const stdfs::path base = stdfs::is_directory("/dev/shm", ec) ? stdfs::path("/dev/shm") : stdfs::temp_directory_path();
    path_ = base / ("edge-fuzz-blobs-" + std::to_string(::getpid()));
    stdfs::remove_all(path_, ec);
    if (!stdfs::create_directories(path_, ec)) fuzz::Die("cannot create the blob directory", path_.string());
  }
  ~BlobDir() {
    std::error_code ec;
    stdfs::remove_all(path_, ec);
  }
  const stdfs::path& path() const { return path_; }
  std::set<std::string> Names() const {
    std::set<std::string> names;
    for (const auto& e : stdfs::directory_iterator(path_)) names.insert(e.path().filename().string());
    return names;
  }
  void Clear() const {
    for (const auto& e : stdfs::directory_iterator(path_)) stdfs::remove(e.path());
  }

 private:
  stdfs::path path_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static fuzz::MemFile file;
  static BlobDir dir;
  file.Set(data, size);
  dir.Clear();

  bool verified = false;
  {
    auto reader = BundleFileReader::Open(file.path());
    if (!reader) return 0;
    if (reader->manifest().blobs.empty()) fuzz::Die("Open returned a manifest without blobs");
    verified = reader->VerifyBlobs().has_value();
  }

  auto reader = BundleFileReader::Open(file.path());
  if (!reader) fuzz::Die("the second Open of the same bytes failed", reader.error().message);
  auto imported = reader->ImportBlobs(dir.path());
  if (imported.has_value() != verified)
    fuzz::Die("VerifyBlobs and ImportBlobs disagree", imported ? "import succeeded" : imported.error().message);

  const auto names = dir.Names();
  if (!imported) {
    if (!names.empty()) fuzz::Die("a refused bundle file left a file behind", *names.begin());
    return 0;
  }
  const auto& blobs = reader->manifest().blobs;
  if (imported->written != static_cast<int>(blobs.size()) || imported->present != 0)
    fuzz::Die("an import into an empty directory did not write every blob once");
  if (names.size() != blobs.size()) fuzz::Die("the blob directory does not hold exactly the manifest's blobs");
  for (const auto& b : blobs) {
    auto bytes = fs::ReadFile(dir.path() / b.digest, b.size);
    if (!bytes) fuzz::Die("an imported blob cannot be read back", bytes.error().message);
    if (bytes->size() != b.size || crypto::Sha256Hex(*bytes) != b.digest)
      fuzz::Die("an imported blob does not match the manifest", b.digest);
  }
  return 0;
}
