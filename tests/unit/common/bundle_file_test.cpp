// Single-file bundles: the writer's output, the reader's round trip, and every way a crafted
// file must be refused. The crafted files come from an encoder written here, independent of
// the one under test, so a mistake shared by writer and reader does not go unnoticed.
#include "common/bundle/bundle_file.h"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "bundle_fixtures.h"
#include "common/core/fs.h"
#include "common/crypto/sha256.h"
#include "tests/unit/core/temp_dir.h"
#include "tests/unit/core/test_files.h"

using namespace edge::bundle;
using namespace edge::bundle::testing;
using edge::ErrorCode;
namespace stdfs = std::filesystem;

namespace {

using edge::testing::ReadAll;
using edge::testing::TempDir;
void WriteAll(const stdfs::path& p, const std::string& data) { std::ofstream(p, std::ios::binary) << data; }

// --- An independent ustar encoder for crafting files -------------------------------------

struct Entry {
  Entry(std::string n, std::string d, char t = '0') : name(std::move(n)), data(std::move(d)), type(t) {}
  std::string name;
  std::string data;
  char type = '0';
  std::string size_field;  // overrides the octal size when not empty (12 bytes)
  bool bad_checksum = false;
};

void Put(std::string& block, size_t offset, const std::string& value) { block.replace(offset, value.size(), value); }

std::string Octal(uint64_t value, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%0*llo", digits, static_cast<unsigned long long>(value));
  return std::string(buf) + '\0';
}

std::string Header(const Entry& e) {
  std::string block(512, '\0');
  Put(block, 0, e.name.substr(0, 100));
  Put(block, 100, Octal(0644, 7));
  Put(block, 108, Octal(0, 7));
  Put(block, 116, Octal(0, 7));
  Put(block, 124, e.size_field.empty() ? Octal(e.data.size(), 11) : e.size_field);
  Put(block, 136, Octal(0, 11));
  block[156] = e.type;
  Put(block, 257, std::string("ustar\0" "00", 8));
  Put(block, 148, std::string(8, ' '));
  unsigned sum = 0;
  for (unsigned char c : block) sum += c;
  if (e.bad_checksum) sum += 1;
  Put(block, 148, Octal(sum, 6) + ' ');
  return block;
}

std::string Padded(const std::string& data) { return data + std::string((512 - data.size() % 512) % 512, '\0'); }

std::string Archive(const std::vector<Entry>& entries, bool end_marker = true) {
  std::string out;
  for (const auto& e : entries) out += Header(e) + Padded(e.data);
  if (end_marker) out += std::string(1024, '\0');
  return out;
}

// --- A signed bundle with two blobs, one larger than the reader's 64 KiB buffer ----------

struct Fixture {
  TempDir dir;
  stdfs::path blob_dir = dir.path() / "blobs";
  stdfs::path file = dir.path() / "bundle.tar";
  std::string model = BigContent();
  std::string labels = "cat\ndog\n";
  Manifest manifest;
  std::string envelope;

  Fixture() {
    stdfs::create_directories(blob_dir);
    stdfs::create_directories(dir.path() / "src");
    manifest = SampleManifest();
    manifest.blobs = {{"model", edge::crypto::Sha256Hex(model), model.size(), "application/vnd.onnx"},
                      {"labels", edge::crypto::Sha256Hex(labels), labels.size(), "text/plain"}};
    envelope = SerializeEnvelope(SignedManifest(manifest, NewKey().seed));
    WriteAll(Source(model_ref().digest), model);
    WriteAll(Source(labels_ref().digest), labels);
  }

  static std::string BigContent() {
    std::string s;
    for (int i = 0; i < 200'000; ++i) s.push_back(static_cast<char>(i * 7 + 3));
    return s;
  }
  const BlobRef& model_ref() const { return manifest.blobs[0]; }
  const BlobRef& labels_ref() const { return manifest.blobs[1]; }
  stdfs::path Source(const std::string& digest) const { return dir.path() / "src" / digest; }
  BlobSourceFn source() const {
    return [this](const std::string& d) { return Source(d); };
  }

  Entry EnvelopeEntry() const { return {"envelope.json", envelope}; }
  Entry ModelEntry() const { return {"blobs/sha256/" + model_ref().digest, model}; }
  Entry LabelsEntry() const { return {"blobs/sha256/" + labels_ref().digest, labels}; }
  std::string Good() const { return Archive({EnvelopeEntry(), ModelEntry(), LabelsEntry()}); }

  // Every file under the temp dir with its size, inode and mtime (directories by name only: a
  // blob written and removed again changes their mtime): a refused import must leave it as is.
  std::set<std::string> Snapshot() const {
    std::set<std::string> out;
    for (const auto& e : stdfs::recursive_directory_iterator(dir.path())) {
      struct stat st {};
      REQUIRE(::lstat(e.path().c_str(), &st) == 0);
      if (S_ISDIR(st.st_mode)) {
        out.insert(e.path().string() + "/");
        continue;
      }
      out.insert(e.path().string() + " " + std::to_string(st.st_size) + " " + std::to_string(st.st_ino) + " " +
                 std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec));
    }
    return out;
  }

  // Writes `bytes` as the bundle file, imports it and expects a refusal naming `problem` that
  // changed nothing on disk: no .partial, no new blob, no existing blob touched.
  void ExpectRefused(const std::string& bytes, const std::string& problem, const ReadLimits& limits = {}) {
    WriteAll(file, bytes);
    const auto before = Snapshot();
    auto r = ReadBundleFile(file, blob_dir, limits);
    REQUIRE_FALSE(r);
    INFO(r.error().message);
    CHECK(Contains(r.error().message, problem));
    CHECK(Contains(r.error().message, file.string()));
    CHECK(Snapshot() == before);
  }
};

}  // namespace

TEST_CASE("WriteBundleFile writes exactly envelope.json and the blobs as ustar", "[bundle][bundle_file]") {
  Fixture f;
  REQUIRE(WriteBundleFile(f.envelope, f.manifest, f.source(), f.file));
  const auto bytes = ReadAll(f.file);
  CHECK(bytes.size() % 512 == 0);
  CHECK(bytes == f.Good());  // byte for byte what the independent encoder makes
  for (const auto& e : stdfs::directory_iterator(f.dir.path())) CHECK_FALSE(Contains(e.path().string(), ".tmp"));
}

TEST_CASE("A bundle file round-trips: envelope bytes, manifest and blobs", "[bundle][bundle_file]") {
  Fixture f;
  REQUIRE(WriteBundleFile(f.envelope, f.manifest, f.source(), f.file));
  auto r = ReadBundleFile(f.file, f.blob_dir);
  REQUIRE(r);
  CHECK(r->envelope_bytes == f.envelope);
  CHECK(r->manifest.name == f.manifest.name);
  CHECK(r->manifest.version == f.manifest.version);
  REQUIRE(r->manifest.blobs.size() == 2);
  CHECK(r->envelope.signatures.size() == 1);
  CHECK(r->blobs.written == 2);
  CHECK(r->blobs.present == 0);
  CHECK(ReadAll(f.blob_dir / f.model_ref().digest) == f.model);
  CHECK(ReadAll(f.blob_dir / f.labels_ref().digest) == f.labels);
  int files = 0;
  for (const auto& e : stdfs::directory_iterator(f.blob_dir)) {
    CHECK_FALSE(Contains(e.path().string(), ".partial"));
    ++files;
  }
  CHECK(files == 2);
}

TEST_CASE("A bundle with an empty blob round-trips", "[bundle][bundle_file]") {
  Fixture f;
  f.manifest.blobs.push_back({"selftest", edge::crypto::Sha256Hex(""), 0, "application/json"});
  f.envelope = SerializeEnvelope(SignedManifest(f.manifest, NewKey().seed));
  WriteAll(f.Source(f.manifest.blobs[2].digest), "");
  REQUIRE(WriteBundleFile(f.envelope, f.manifest, f.source(), f.file));
  auto r = ReadBundleFile(f.file, f.blob_dir);
  REQUIRE(r);
  CHECK(r->blobs.written == 3);
  CHECK(stdfs::file_size(f.blob_dir / f.manifest.blobs[2].digest) == 0);
}

TEST_CASE("WriteBundleFile refuses what the reader would refuse, and leaves no file", "[bundle][bundle_file]") {
  Fixture f;
  auto expect = [&](const edge::Status& s, const std::string& problem) {
    REQUIRE_FALSE(s);
    INFO(s.error().message);
    CHECK(Contains(s.error().message, problem));
    CHECK_FALSE(stdfs::exists(f.file));
    for (const auto& e : stdfs::directory_iterator(f.dir.path())) CHECK_FALSE(Contains(e.path().string(), ".tmp"));
  };
  SECTION("a blob with other content of the same size") {
    std::string other = f.labels;
    other[0] = 'b';
    WriteAll(f.Source(f.labels_ref().digest), other);
    expect(WriteBundleFile(f.envelope, f.manifest, f.source(), f.file), "sha256 mismatch");
  }
  SECTION("a blob of the wrong size") {
    WriteAll(f.Source(f.labels_ref().digest), f.labels + "x");
    expect(WriteBundleFile(f.envelope, f.manifest, f.source(), f.file), "the manifest declares");
  }
  SECTION("a missing blob") {
    stdfs::remove(f.Source(f.model_ref().digest));
    expect(WriteBundleFile(f.envelope, f.manifest, f.source(), f.file),
           "blob model (" + f.model_ref().digest.substr(0, 16) + "): cannot open " + f.Source(f.model_ref().digest).string());
  }
  SECTION("an envelope that carries another manifest") {
    auto other = f.manifest;
    other.blobs.pop_back();
    expect(WriteBundleFile(f.envelope, other, f.source(), f.file), "other blobs");
  }
  SECTION("bytes that are not an envelope") {
    expect(WriteBundleFile("{}", f.manifest, f.source(), f.file), "payload");
  }
}

TEST_CASE("BundleFileReader exposes the manifest before any blob is written", "[bundle][bundle_file]") {
  Fixture f;
  WriteAll(f.file, f.Good());
  auto reader = BundleFileReader::Open(f.file);
  REQUIRE(reader);
  CHECK(reader->manifest().blobs.size() == 2);
  CHECK(reader->envelope_bytes() == f.envelope);
  CHECK(stdfs::is_empty(f.blob_dir));
  REQUIRE(reader->ImportBlobs(f.blob_dir));
  CHECK_FALSE(stdfs::is_empty(f.blob_dir));
  auto again = reader->ImportBlobs(f.blob_dir);
  REQUIRE_FALSE(again);
  CHECK(Contains(again.error().message, "already read"));
}

TEST_CASE("VerifyBlobs checks every blob and writes nothing", "[bundle][bundle_file]") {
  Fixture f;
  WriteAll(f.file, f.Good());
  auto reader = BundleFileReader::Open(f.file);
  REQUIRE(reader);
  CHECK(reader->VerifyBlobs());
  CHECK(stdfs::is_empty(f.blob_dir));

  auto bad = f.LabelsEntry();
  bad.data[0] = 'b';
  WriteAll(f.file, Archive({f.EnvelopeEntry(), f.ModelEntry(), bad}));
  auto bad_reader = BundleFileReader::Open(f.file);
  REQUIRE(bad_reader);
  auto s = bad_reader->VerifyBlobs();
  REQUIRE_FALSE(s);
  CHECK(Contains(s.error().message, "sha256 mismatch"));
}

TEST_CASE("An existing good blob is not rewritten", "[bundle][bundle_file]") {
  Fixture f;
  const auto existing = f.blob_dir / f.model_ref().digest;
  WriteAll(existing, f.model);
  struct stat before {};
  REQUIRE(::stat(existing.c_str(), &before) == 0);
  WriteAll(f.file, f.Good());
  auto r = ReadBundleFile(f.file, f.blob_dir);
  REQUIRE(r);
  CHECK(r->blobs.present == 1);
  CHECK(r->blobs.written == 1);
  struct stat after {};
  REQUIRE(::stat(existing.c_str(), &after) == 0);
  CHECK(after.st_ino == before.st_ino);
  CHECK(after.st_ctim.tv_sec == before.st_ctim.tv_sec);
  CHECK(after.st_ctim.tv_nsec == before.st_ctim.tv_nsec);
}

TEST_CASE("An existing blob that does not verify is replaced", "[bundle][bundle_file]") {
  Fixture f;
  WriteAll(f.blob_dir / f.labels_ref().digest, "rotten");
  WriteAll(f.file, f.Good());
  auto r = ReadBundleFile(f.file, f.blob_dir);
  REQUIRE(r);
  CHECK(r->blobs.written == 2);
  CHECK(ReadAll(f.blob_dir / f.labels_ref().digest) == f.labels);
}

TEST_CASE("A failed import leaves no .partial and does not touch existing blobs", "[bundle][bundle_file]") {
  Fixture f;
  WriteAll(f.blob_dir / f.model_ref().digest, f.model);
  const std::string unrelated = "another model's blob";
  WriteAll(f.blob_dir / edge::crypto::Sha256Hex(unrelated), unrelated);
  SECTION("digest mismatch in a blob being written") {
    auto bad = f.LabelsEntry();
    bad.data[0] = 'b';
    f.ExpectRefused(Archive({f.EnvelopeEntry(), f.ModelEntry(), bad}), "sha256 mismatch");
  }
  SECTION("the file ends in the middle of a blob being written") {
    auto bytes = Archive({f.EnvelopeEntry(), f.ModelEntry(), f.LabelsEntry()}, false);
    f.ExpectRefused(bytes.substr(0, bytes.size() - 512 - 4), "truncated");
  }
  SECTION("digest mismatch in a blob already present") {
    auto bad = f.ModelEntry();
    bad.data[100] ^= 1;
    f.ExpectRefused(Archive({f.EnvelopeEntry(), bad, f.LabelsEntry()}), "sha256 mismatch");
  }
  CHECK(ReadAll(f.blob_dir / f.model_ref().digest) == f.model);
  CHECK(ReadAll(f.blob_dir / edge::crypto::Sha256Hex(unrelated)) == unrelated);
}

TEST_CASE("A bundle file is refused, naming the problem, and nothing is written", "[bundle][bundle_file]") {
  Fixture f;
  const auto env = f.EnvelopeEntry();
  const auto model = f.ModelEntry();
  const auto labels = f.LabelsEntry();
  const auto good = f.Good();

  SECTION("not a tar at all") { f.ExpectRefused(std::string(2000, 'x'), "no POSIX ustar header at offset 0"); }
  SECTION("a JSON file") { f.ExpectRefused(f.envelope, "no POSIX ustar header"); }
  SECTION("an empty file") { f.ExpectRefused("", "empty file"); }
  SECTION("an empty archive") { f.ExpectRefused(std::string(1024, '\0'), "empty archive"); }
  SECTION("truncated inside a header") { f.ExpectRefused(good.substr(0, 100), "truncated"); }
  SECTION("truncated inside envelope.json") { f.ExpectRefused(good.substr(0, 600), "truncated"); }
  SECTION("truncated inside a blob") { f.ExpectRefused(good.substr(0, 512 * 3 + 1000), "truncated"); }
  SECTION("truncated at an entry boundary, before the end marker") {
    f.ExpectRefused(Archive({env, model, labels}, false), "without the end-of-archive marker");
  }
  SECTION("truncated inside the end marker") { f.ExpectRefused(good.substr(0, good.size() - 512), "truncated"); }
  SECTION("bad header checksum on the first entry") {
    auto e = env;
    e.bad_checksum = true;
    f.ExpectRefused(Archive({e, model, labels}), "bad header checksum at offset 0");
  }
  SECTION("bad header checksum on a blob") {
    auto e = labels;
    e.bad_checksum = true;
    f.ExpectRefused(Archive({env, model, e}), "bad header checksum");
  }
  SECTION("a flipped byte in a header") {
    auto bytes = good;
    bytes[512 + 512 * ((f.envelope.size() + 511) / 512) + 10] ^= 0x01;
    f.ExpectRefused(bytes, "bad header checksum");
  }
  SECTION("a symbolic link") {
    f.ExpectRefused(Archive({env, {"blobs/sha256/" + f.model_ref().digest, "", '2'}}), "is a symbolic link");
  }
  SECTION("a hard link") { f.ExpectRefused(Archive({env, {"blobs/sha256/x", "", '1'}}), "is a hard link"); }
  SECTION("a character device") { f.ExpectRefused(Archive({env, {"blobs/sha256/x", "", '3'}}), "character device"); }
  SECTION("a block device") { f.ExpectRefused(Archive({env, {"blobs/sha256/x", "", '4'}}), "block device"); }
  SECTION("a FIFO") { f.ExpectRefused(Archive({env, {"blobs/sha256/x", "", '6'}}), "FIFO"); }
  SECTION("a directory") { f.ExpectRefused(Archive({env, {"blobs/", "", '5'}, model, labels}), "is a directory"); }
  SECTION("a directory before envelope.json") {
    f.ExpectRefused(Archive({{"blobs/", "", '5'}, env, model, labels}), "is a directory");
  }
  SECTION("a pax header") { f.ExpectRefused(Archive({{"PaxHeader", "30 path=x\n", 'x'}, env}), "pax extended header"); }
  SECTION("an absolute path") {
    f.ExpectRefused(Archive({env, {"/etc/cron.d/evil", "x"}, model, labels}), "absolute path");
  }
  SECTION("a .. component") {
    f.ExpectRefused(Archive({env, {"blobs/sha256/../../../evil", "x"}, model, labels}), "'..'");
  }
  SECTION("a .. component as the first entry") { f.ExpectRefused(Archive({{"../envelope.json", f.envelope}}), "'..'"); }
  SECTION("the first entry is not envelope.json") {
    f.ExpectRefused(Archive({model, env, labels}), "the first entry is 'blobs/sha256/");
  }
  SECTION("an unknown blob") {
    const std::string other = "not in the manifest";
    f.ExpectRefused(Archive({env, {"blobs/sha256/" + edge::crypto::Sha256Hex(other), other}, model, labels}),
                    "not a blob of the manifest");
  }
  SECTION("an unknown file") { f.ExpectRefused(Archive({env, {"README", "hello"}, model, labels}), "unknown entry 'README'"); }
  SECTION("an unknown entry after the last blob") {
    f.ExpectRefused(Archive({env, model, labels, {"extra", "x"}}), "unknown entry 'extra'");
  }
  SECTION("a duplicate envelope.json") {
    f.ExpectRefused(Archive({env, env, model, labels}), "duplicate entry 'envelope.json'");
  }
  SECTION("a duplicate blob") { f.ExpectRefused(Archive({env, model, labels, labels}), "duplicate entry 'blobs/sha256/"); }
  SECTION("a duplicate blob in place of the next one") {
    f.ExpectRefused(Archive({env, model, model, labels}), "duplicate entry");
  }
  SECTION("blobs out of the manifest's order") { f.ExpectRefused(Archive({env, labels, model}), "out of order"); }
  SECTION("a blob whose size differs from the manifest") {
    auto e = labels;
    e.data += "more";
    f.ExpectRefused(Archive({env, model, e}), "size mismatch");
  }
  SECTION("a blob with the right size and the wrong content") {
    auto e = model;
    e.data[150'000] ^= 0x40;
    f.ExpectRefused(Archive({env, e, labels}), "sha256 mismatch");
  }
  SECTION("a missing blob") { f.ExpectRefused(Archive({env, model}), "missing blob labels"); }
  SECTION("no blobs at all") { f.ExpectRefused(Archive({env}), "missing blob model"); }
  SECTION("trailing garbage") { f.ExpectRefused(good + "garbage", "trailing data after the end-of-archive marker"); }
  SECTION("trailing zero records") { f.ExpectRefused(good + std::string(512, '\0'), "trailing data"); }
  SECTION("a bad end marker") {
    auto bytes = good;
    bytes[bytes.size() - 10] = 'x';
    f.ExpectRefused(bytes, "bad end-of-archive marker");
  }
  SECTION("a huge size field on envelope.json") {
    auto e = env;
    e.size_field = Octal(077777777777, 11);
    f.ExpectRefused(Archive({e}), "more than the limit");
  }
  SECTION("a huge size field on a blob") {
    auto e = labels;
    e.size_field = Octal(077777777777, 11);
    f.ExpectRefused(Archive({env, model, e}), "size mismatch");
  }
  SECTION("a base-256 size field") {
    auto e = env;
    e.size_field = std::string("\x80\0\0\0\0\0\0\0\0\0\x10\0", 12);
    f.ExpectRefused(Archive({e}), "size field is not plain octal");
  }
  SECTION("a size field with garbage") {
    auto e = env;
    e.size_field = std::string("00000001x23\0", 12);
    f.ExpectRefused(Archive({e}), "size field is not plain octal");
  }
  SECTION("an envelope over the caller's limit") {
    ReadLimits limits;
    limits.max_envelope_bytes = 100;
    f.ExpectRefused(good, "more than the limit of 100", limits);
  }
  SECTION("blobs over the caller's total limit") {
    ReadLimits limits;
    limits.max_total_blob_bytes = 1000;
    f.ExpectRefused(good, "more than the limit of 1000", limits);
  }
  SECTION("an envelope that is not JSON") { f.ExpectRefused(Archive({{"envelope.json", "not json"}, model}), "envelope.json"); }
  SECTION("an envelope that carries a trust policy") {
    TrustPolicy policy;
    policy.fleet = "acme";
    policy.version = 1;
    auto e = env;
    e.data = SerializeEnvelope(SignedPolicy(policy, NewKey().seed));
    f.ExpectRefused(Archive({e}), "not a manifest");
  }
}

TEST_CASE("A refused file gives the right error code", "[bundle][bundle_file]") {
  Fixture f;
  WriteAll(f.file, std::string(2000, 'x'));
  auto r = ReadBundleFile(f.file, f.blob_dir);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == ErrorCode::kDataLoss);
  auto missing = ReadBundleFile(f.dir.path() / "absent.tar", f.blob_dir);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
  WriteAll(f.file, f.Good());
  auto no_dir = ReadBundleFile(f.file, f.dir.path() / "no-such-dir");
  REQUIRE_FALSE(no_dir);
  CHECK(no_dir.error().code == ErrorCode::kNotFound);
  CHECK_FALSE(stdfs::exists(f.dir.path() / "no-such-dir"));
}
