// The lazy BIO pair keeps OpenSSL's pair semantics (capacity, partial writes, retry flags,
// pending counts, shutdown and EOF, a freed peer) and holds no buffer while empty. Each case
// runs on the lazy pair and on OpenSSL's own, so the reference is OpenSSL, not a copy of it.
#include "controller/net/lazy_bio_pair.h"

#include <openssl/bio.h>

#include <catch2/catch.hpp>
#include <memory>
#include <string>

using namespace edge::controller::net;

namespace {

struct Pair {
  BIO* a = nullptr;  // bytes written to a are read from b
  BIO* b = nullptr;
  Pair(bool lazy, size_t capacity_a, size_t capacity_b) {
    const int made = lazy ? NewLazyBioPair(&a, capacity_a, &b, capacity_b)
                          : BIO_new_bio_pair(&a, capacity_a, &b, capacity_b);
    REQUIRE(made == 1);
  }
  ~Pair() {
    BIO_free(a);
    BIO_free(b);
  }
};

int Write(BIO* bio, const std::string& bytes) {
  return BIO_write(bio, bytes.data(), static_cast<int>(bytes.size()));
}

std::string Read(BIO* bio, int size) {
  std::string out(static_cast<size_t>(size), '\0');
  const int n = BIO_read(bio, out.data(), size);
  out.resize(n > 0 ? static_cast<size_t>(n) : 0);
  return out;
}

}  // namespace

TEST_CASE(
    "a BIO pair side takes what fits, asks to retry when full, and keeps the order of the bytes") {
  const bool lazy = GENERATE(true, false);
  INFO((lazy ? "lazy pair" : "OpenSSL's pair"));
  Pair p(lazy, 8, 0);
  CHECK(BIO_ctrl_get_write_guarantee(p.a) == 8);
  CHECK(Write(p.a, "0123456789") == 8);
  CHECK(BIO_ctrl_pending(p.b) == 8);
  CHECK(BIO_ctrl_wpending(p.a) == 8);
  CHECK(Write(p.a, "x") == -1);
  CHECK(BIO_should_retry(p.a));
  CHECK(BIO_should_write(p.a));
  CHECK(Read(p.b, 5) == "01234");
  CHECK(Write(p.a, "89ab") == 4);  // 3 unread + 4 new: wraps (OpenSSL) or compacts (lazy)
  CHECK(Read(p.b, 100) == "56789ab");
  CHECK(BIO_ctrl_pending(p.b) == 0);
  CHECK(BIO_get_write_buf_size(p.a, 0) == 8);
}

TEST_CASE("a BIO pair side with nothing to read asks the reader to retry") {
  const bool lazy = GENERATE(true, false);
  INFO((lazy ? "lazy pair" : "OpenSSL's pair"));
  Pair p(lazy, 0, 0);
  CHECK(Read(p.b, 10).empty());
  CHECK(BIO_should_retry(p.b));
  CHECK(BIO_should_read(p.b));
  CHECK(BIO_eof(p.b) == 0);
  // Each direction is its own: bytes written to b are read from a, with b's capacity (default).
  const std::string big(kDefaultBioPairCapacity + 10, 'z');
  CHECK(Write(p.b, big) == static_cast<int>(kDefaultBioPairCapacity));
  CHECK(BIO_ctrl_pending(p.a) == kDefaultBioPairCapacity);
  CHECK(BIO_ctrl_pending(p.b) == 0);
  CHECK(Read(p.a, static_cast<int>(big.size())) == big.substr(0, kDefaultBioPairCapacity));
}

TEST_CASE(
    "after BIO_shutdown_wr the reader gets what was written, then EOF, and the writer an error") {
  const bool lazy = GENERATE(true, false);
  INFO((lazy ? "lazy pair" : "OpenSSL's pair"));
  Pair p(lazy, 0, 0);
  CHECK(Write(p.a, "last") == 4);
  CHECK(BIO_shutdown_wr(p.a) == 1);
  CHECK(BIO_eof(p.b) == 0);
  CHECK(Read(p.b, 10) == "last");
  CHECK(BIO_read(p.b, std::string(4, ' ').data(), 4) == 0);
  CHECK_FALSE(BIO_should_retry(p.b));
  CHECK(BIO_eof(p.b) == 1);
  CHECK(Write(p.a, "more") == -1);
  CHECK_FALSE(BIO_should_retry(p.a));
  CHECK(BIO_ctrl_get_write_guarantee(p.a) == 0);
}

TEST_CASE("a BIO pair side whose peer was freed reads and writes nothing") {
  const bool lazy = GENERATE(true, false);
  const bool free_a_first = GENERATE(true, false);
  INFO((lazy ? "lazy pair" : "OpenSSL's pair"));
  BIO* a = nullptr;
  BIO* b = nullptr;
  REQUIRE((lazy ? NewLazyBioPair(&a, 0, &b, 0) : BIO_new_bio_pair(&a, 0, &b, 0)) == 1);
  CHECK(Write(a, "pending") == 7);
  BIO_free(free_a_first ? a : b);
  BIO* survivor = free_a_first ? b : a;
  CHECK(BIO_ctrl_pending(survivor) == 0);
  char byte = 0;
  CHECK(BIO_write(survivor, "x", 1) <= 0);
  CHECK(BIO_read(survivor, &byte, 1) <= 0);
  CHECK_FALSE(BIO_should_retry(survivor));
  BIO_free(survivor);
}

TEST_CASE("a lazy BIO pair holds a buffer only while bytes wait in it") {
  const size_t before = LazyBioPairBytesHeld();
  Pair p(/*lazy=*/true, 0, 0);
  CHECK(LazyBioPairBytesHeld() == before);
  const std::string record(16 * 1024 + 22, 'r');  // a full TLS record
  CHECK(Write(p.a, record) == static_cast<int>(record.size()));
  CHECK(Write(p.b, "ack") == 3);
  CHECK(LazyBioPairBytesHeld() >= before + record.size() + 3);
  CHECK(LazyBioPairBytesHeld() <= before + 2 * kDefaultBioPairCapacity);
  CHECK(Read(p.b, 1000) == record.substr(0, 1000));
  CHECK(Read(p.b, static_cast<int>(record.size())) == record.substr(1000));
  CHECK(Read(p.a, 3) == "ack");
  CHECK(LazyBioPairBytesHeld() == before);
}

TEST_CASE("freeing a lazy BIO pair with unread bytes releases them") {
  const size_t before = LazyBioPairBytesHeld();
  {
    Pair p(/*lazy=*/true, 0, 0);
    CHECK(Write(p.a, std::string(5000, 'u')) == 5000);
    CHECK(LazyBioPairBytesHeld() > before);
  }
  CHECK(LazyBioPairBytesHeld() == before);
}
