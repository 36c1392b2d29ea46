#include "common/core/fs.h"
#include "common/core/posix_file.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <fstream>

#include "core/temp_dir.h"
#include "tests/unit/core/test_files.h"

using edge::ErrorCode;
using edge::testing::TempDir;
namespace fs = edge::fs;
namespace stdfs = std::filesystem;

namespace {

using edge::testing::ModeOf;

int CountEntries(const stdfs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : stdfs::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST_CASE("WriteFileAtomic writes, replaces and sets the mode", "[fs]") {
  TempDir dir;
  const auto path = dir / "file.txt";
  REQUIRE(fs::WriteFileAtomic(path, "first", 0600));
  CHECK(fs::ReadFile(path, 100).value() == "first");
  CHECK(ModeOf(path) == 0600);
  REQUIRE(fs::WriteFileAtomic(path, "second, longer", 0644));
  CHECK(fs::ReadFile(path, 100).value() == "second, longer");
  CHECK(ModeOf(path) == 0644);
  CHECK(CountEntries(dir.path()) == 1);  // no temp file left behind
}

TEST_CASE("WriteFileAtomic into a missing directory fails with kIo", "[fs]") {
  TempDir dir;
  auto s = fs::WriteFileAtomic(dir / "no" / "such" / "file", "x");
  REQUIRE_FALSE(s);
  CHECK(s.error().code == ErrorCode::kIo);
}

TEST_CASE("ReadFile refuses files over the limit and names missing files", "[fs]") {
  TempDir dir;
  const auto path = dir / "data";
  REQUIRE(fs::WriteFileAtomic(path, std::string(100, 'a')));
  CHECK(fs::ReadFile(path, 100).value().size() == 100);
  auto big = fs::ReadFile(path, 99);
  REQUIRE_FALSE(big);
  CHECK(big.error().code == ErrorCode::kResourceExhausted);
  auto missing = fs::ReadFile(dir / "absent", 100);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK_THAT(missing.error().message, Catch::Contains((dir / "absent").string()));
}

TEST_CASE("ReplaceSymlink creates and switches a link", "[fs]") {
  TempDir dir;
  const auto link = dir / "current";
  REQUIRE(fs::ReplaceSymlink("v1", link));
  CHECK(stdfs::read_symlink(link) == "v1");
  REQUIRE(fs::ReplaceSymlink("v2", link));
  CHECK(stdfs::read_symlink(link) == "v2");
  CHECK(CountEntries(dir.path()) == 1);
}

TEST_CASE("CreateDirectories is mkdir -p with a mode", "[fs]") {
  TempDir dir;
  const auto deep = dir / "a" / "b" / "c";
  REQUIRE(fs::CreateDirectories(deep, 0700));
  CHECK(stdfs::is_directory(deep));
  CHECK(ModeOf(deep) == 0700);
  REQUIRE(fs::CreateDirectories(deep, 0700));  // existing: fine
  CHECK(fs::FreeBytes(dir.path()).value() > 0);
  CHECK(fs::FsyncPath(deep));
  CHECK_FALSE(fs::FsyncPath(dir / "absent"));
}

TEST_CASE("WriteFileNoReplace creates a file but never replaces one, a directory or a dangling symlink", "[fs]") {
  TempDir dir;
  const auto path = dir / "out.bin";
  REQUIRE(fs::WriteFileNoReplace(path, "new"));
  CHECK(fs::ReadFile(path, 100).value() == "new");
  // Something that appeared at the path (here: before the call) is left as it was.
  auto again = fs::WriteFileNoReplace(path, "other");
  REQUIRE_FALSE(again);
  CHECK(again.error().code == ErrorCode::kAlreadyExists);
  CHECK(fs::ReadFile(path, 100).value() == "new");
  stdfs::create_symlink(dir / "nowhere", dir / "dangling");
  auto link = fs::WriteFileNoReplace(dir / "dangling", "x");
  REQUIRE_FALSE(link);
  CHECK(link.error().code == ErrorCode::kAlreadyExists);
  CHECK(stdfs::is_symlink(stdfs::symlink_status(dir / "dangling")));
  CHECK_FALSE(stdfs::exists(dir / "nowhere"));
  stdfs::create_directory(dir / "d");
  REQUIRE_FALSE(fs::WriteFileNoReplace(dir / "d", "x"));
  CHECK(stdfs::is_directory(dir / "d"));
  // No temp file is left behind: out.bin, dangling, d.
  CHECK(CountEntries(dir.path()) == 3);
}

TEST_CASE("ReadFile and OpenRegularFile refuse a FIFO without waiting for a writer", "[fs]") {
  TempDir dir;
  const auto fifo = dir / "config.json";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  // A blocking open(2) would never return here: no one ever opens the FIFO for writing.
  auto read = fs::ReadFile(fifo, 1024);
  REQUIRE_FALSE(read);
  CHECK(read.error().code == ErrorCode::kInvalidArgument);
  CHECK(read.error().message == fifo.string() + " is a FIFO (named pipe), not a regular file");
  CHECK_FALSE(fs::OpenRegularFile(fifo));
}

TEST_CASE("OpenRegularFile says what a path is when it is not a regular file", "[fs]") {
  TempDir dir;
  auto directory = fs::OpenRegularFile(dir.path());
  REQUIRE_FALSE(directory);
  CHECK(directory.error().message == dir.path().string() + " is a directory, not a regular file");
  auto device = fs::OpenRegularFile("/dev/null");
  REQUIRE_FALSE(device);
  CHECK(device.error().message == "/dev/null is a character device, not a regular file");
  auto missing = fs::OpenRegularFile(dir / "missing");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code == ErrorCode::kNotFound);
  std::ofstream(dir / "real") << "text";
  stdfs::create_symlink(dir / "real", dir / "link");
  auto no_follow = fs::OpenRegularFile(dir / "link", O_NOFOLLOW);
  REQUIRE_FALSE(no_follow);
  CHECK(no_follow.error().message == (dir / "link").string() + " is a symlink, not a regular file");
  struct stat st {};
  auto real = fs::OpenRegularFile(dir / "link", 0, &st);  // followed: the file it names
  REQUIRE(real);
  CHECK(st.st_size == 4);
  auto text = fs::ReadAll(*real, dir / "link", 16);
  REQUIRE(text);
  CHECK(*text == "text");
  // Blocking again once open: reads of a regular file are not affected either way, but callers
  // that hand the descriptor on get the ordinary semantics.
  CHECK((::fcntl(real->get(), F_GETFL) & O_NONBLOCK) == 0);
}
