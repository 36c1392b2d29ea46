#include "controller/net/lazy_bio_pair.h"

#include <openssl/err.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>

namespace edge::controller::net {
namespace {

// The first allocation of a direction; later ones double, up to the capacity.
constexpr size_t kMinAllocation = 1024;

std::atomic<size_t> g_bytes_held{0};

// The bytes written to one side and not yet read from the other.
struct Direction {
  size_t capacity = kDefaultBioPairCapacity;
  unsigned char* data = nullptr;  // nullptr while empty
  size_t allocated = 0;
  size_t head = 0;      // first unread byte
  size_t length = 0;    // unread bytes
  bool closed = false;  // the writer called BIO_shutdown_wr

  ~Direction() { Release(); }

  void Release() {
    std::free(data);
    g_bytes_held.fetch_sub(allocated, std::memory_order_relaxed);
    data = nullptr;
    allocated = head = length = 0;
  }

  // Room for `n` more bytes after the unread ones; false if out of memory.
  bool Reserve(size_t n) {
    const size_t needed = length + n;
    if (head + needed <= allocated) return true;
    if (needed <= allocated) {
      std::memmove(data, data + head, length);
      head = 0;
      return true;
    }
    const size_t size = std::min(capacity, std::max({needed, allocated * 2, kMinAllocation}));
    auto* grown = static_cast<unsigned char*>(std::malloc(size));
    if (grown == nullptr) return false;
    if (length > 0) std::memcpy(grown, data + head, length);
    std::free(data);
    g_bytes_held.fetch_add(size - allocated, std::memory_order_relaxed);
    data = grown;
    allocated = size;
    head = 0;
    return true;
  }
};

struct Pair;

// What each BIO of a pair points to.
struct Side {
  Pair* pair = nullptr;
  int index = 0;
  bool alive = true;
};

struct Pair {
  Direction written[2];  // written[i]: written to side i, read from side 1 - i
  Side sides[2];
};

Side* SideOf(BIO* bio) { return static_cast<Side*>(BIO_get_data(bio)); }

// Nullptr once the other side was freed: the pair is broken, reads and writes return 0.
Pair* LivePair(BIO* bio) {
  Side* side = SideOf(bio);
  if (side == nullptr || !side->pair->sides[1 - side->index].alive) return nullptr;
  return side->pair;
}

int Write(BIO* bio, const char* bytes, int size) {
  BIO_clear_retry_flags(bio);
  Pair* pair = LivePair(bio);
  if (pair == nullptr || bytes == nullptr || size <= 0) return 0;
  Direction& out = pair->written[SideOf(bio)->index];
  if (out.closed) {
    ERR_raise(ERR_LIB_BIO, BIO_R_BROKEN_PIPE);
    return -1;
  }
  if (out.length >= out.capacity) {
    BIO_set_retry_write(bio);
    return -1;
  }
  const size_t n = std::min(static_cast<size_t>(size), out.capacity - out.length);
  if (!out.Reserve(n)) {
    ERR_raise(ERR_LIB_BIO, ERR_R_MALLOC_FAILURE);
    return -1;
  }
  std::memcpy(out.data + out.head + out.length, bytes, n);
  out.length += n;
  return static_cast<int>(n);
}

int Read(BIO* bio, char* bytes, int size) {
  BIO_clear_retry_flags(bio);
  Pair* pair = LivePair(bio);
  if (pair == nullptr || bytes == nullptr || size <= 0) return 0;
  Direction& in = pair->written[1 - SideOf(bio)->index];
  if (in.length == 0) {
    if (in.closed) return 0;
    BIO_set_retry_read(bio);
    return -1;
  }
  const size_t n = std::min(static_cast<size_t>(size), in.length);
  std::memcpy(bytes, in.data + in.head, n);
  in.head += n;
  in.length -= n;
  if (in.length == 0) in.Release();  // what this pair is for: an idle connection holds no buffer
  return static_cast<int>(n);
}

long Clamp(size_t n) { return static_cast<long>(std::min<size_t>(n, LONG_MAX)); }

long Ctrl(BIO* bio, int cmd, long num, void* /*ptr*/) {
  Side* side = SideOf(bio);
  if (side == nullptr) return 0;
  Pair* live = LivePair(bio);
  Direction& out = side->pair->written[side->index];
  Direction& in = side->pair->written[1 - side->index];
  switch (cmd) {
    case BIO_CTRL_PENDING:  // readable from this side
      return live == nullptr ? 0 : Clamp(in.length);
    case BIO_CTRL_WPENDING:  // written to this side, not yet read
      return Clamp(out.length);
    case BIO_C_GET_WRITE_BUF_SIZE:
      return Clamp(out.capacity);
    case BIO_C_GET_WRITE_GUARANTEE:
      return live == nullptr || out.closed ? 0 : Clamp(out.capacity - out.length);
    case BIO_C_SHUTDOWN_WR:
      out.closed = true;
      return 1;
    case BIO_CTRL_EOF:
      return live == nullptr || (in.length == 0 && in.closed) ? 1 : 0;
    case BIO_CTRL_RESET:
      out.Release();
      return 0;
    case BIO_CTRL_FLUSH:
    case BIO_C_RESET_READ_REQUEST:
      return 1;
    case BIO_CTRL_GET_CLOSE:
      return BIO_get_shutdown(bio);
    case BIO_CTRL_SET_CLOSE:
      BIO_set_shutdown(bio, static_cast<int>(num));
      return 1;
    default:  // as OpenSSL's pair: no kTLS, no zero-copy reads and writes, no dup
      return 0;
  }
}

int Create(BIO* bio) {
  BIO_set_data(bio, nullptr);
  BIO_set_init(bio, 1);
  return 1;
}

int Destroy(BIO* bio) {
  Side* side = SideOf(bio);
  if (side == nullptr) return 1;
  BIO_set_data(bio, nullptr);
  side->alive = false;
  Pair* pair = side->pair;
  if (!pair->sides[0].alive && !pair->sides[1].alive) delete pair;
  return 1;
}

const BIO_METHOD* Method() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "lazy BIO pair");
    if (m == nullptr || !BIO_meth_set_write(m, Write) || !BIO_meth_set_read(m, Read) ||
        !BIO_meth_set_ctrl(m, Ctrl) || !BIO_meth_set_create(m, Create) ||
        !BIO_meth_set_destroy(m, Destroy)) {
      BIO_meth_free(m);
      return static_cast<BIO_METHOD*>(nullptr);
    }
    return m;
  }();
  return method;
}

}  // namespace

int NewLazyBioPair(BIO** bio1, size_t capacity1, BIO** bio2, size_t capacity2) {
  *bio1 = *bio2 = nullptr;
  const BIO_METHOD* method = Method();
  if (method == nullptr) return 0;
  BIO* a = BIO_new(method);
  BIO* b = a == nullptr ? nullptr : BIO_new(method);
  if (b == nullptr) {
    BIO_free(a);
    return 0;
  }
  auto* pair = new Pair;
  pair->written[0].capacity = capacity1 == 0 ? kDefaultBioPairCapacity : capacity1;
  pair->written[1].capacity = capacity2 == 0 ? kDefaultBioPairCapacity : capacity2;
  pair->sides[0] = Side{pair, 0, true};
  pair->sides[1] = Side{pair, 1, true};
  BIO_set_data(a, &pair->sides[0]);
  BIO_set_data(b, &pair->sides[1]);
  *bio1 = a;
  *bio2 = b;
  return 1;
}

size_t LazyBioPairBytesHeld() { return g_bytes_held.load(std::memory_order_relaxed); }

}  // namespace edge::controller::net
