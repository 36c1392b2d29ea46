// A BIO pair (OpenSSL's BIO_new_bio_pair) whose buffers exist only while bytes wait in them.
//
// gRPC's TLS (tsi) puts one BIO pair between each connection's SSL object and the socket.
// OpenSSL's pair allocates both buffers (17 KB each by default) when the pair is made and keeps
// them for its life; an agent connection is idle nearly all the time, so at 10,000 agents that
// is 340 MB of empty buffers. This pair behaves as OpenSSL's does for what gRPC and libssl ask
// of it — the same capacity per direction (a write takes at most what fits; a full direction
// asks the writer, an empty one the reader, to retry), the same pending counts, EOF once the
// writer called BIO_shutdown_wr and everything was read, a freed peer ends reads and writes
// (they return 0) — but a direction's bytes are allocated by the write that needs them and freed
// by the read that empties it. Not thread-safe, as OpenSSL's is not: both sides belong to one
// connection, used under its lock.
#pragma once

#include <openssl/bio.h>

#include <cstddef>

namespace edge::controller::net {

// OpenSSL's buffer size for a pair side given 0.
inline constexpr size_t kDefaultBioPairCapacity = 17 * 1024;

// BIO_new_bio_pair's contract: returns 1 and two BIOs, each to be freed with BIO_free; bytes
// written to *bio1 (at most `capacity1` unread at a time; 0 means kDefaultBioPairCapacity) are
// read from *bio2, and the other way round. Returns 0 with both set to nullptr on failure.
int NewLazyBioPair(BIO** bio1, size_t capacity1, BIO** bio2, size_t capacity2);

// Bytes that all live lazy pairs hold for unread data now (their allocations).
size_t LazyBioPairBytesHeld();

}  // namespace edge::controller::net
