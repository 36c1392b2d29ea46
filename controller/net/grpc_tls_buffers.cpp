#include "controller/net/grpc_tls_buffers.h"

#include <dlfcn.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "controller/net/lazy_bio_pair.h"

namespace edge::controller::net {
namespace {

std::atomic<bool> g_on{false};
std::atomic<uint64_t> g_lazy_pairs{0};
std::atomic<uint64_t> g_releasing_ssl{0};
std::atomic<uint64_t> g_passed_through{0};

// True when `return_address` lies in libgrpc (not libgrpc++, which makes no such calls).
bool CalledFromLibgrpc(const void* return_address) {
  Dl_info info{};
  if (dladdr(return_address, &info) == 0 || info.dli_fname == nullptr) return false;
  const char* slash = std::strrchr(info.dli_fname, '/');
  const char* name = slash == nullptr ? info.dli_fname : slash + 1;
  return std::strncmp(name, "libgrpc.so", 10) == 0;
}

// OpenSSL's definition of `name`, the next one after this executable's. A missing one is a
// broken installation, not something to run on.
void* Next(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "edge-controller: %s not found in the OpenSSL libraries: %s\n", name,
                 dlerror());
    std::abort();
  }
  return f;
}

}  // namespace

void SetGrpcTlsBuffersOnDemand(bool on) { g_on.store(on, std::memory_order_relaxed); }

bool GrpcTlsBuffersInterposed() {
  return dlsym(RTLD_DEFAULT, "BIO_new_bio_pair") == reinterpret_cast<void*>(&::BIO_new_bio_pair) &&
         dlsym(RTLD_DEFAULT, "SSL_new") == reinterpret_cast<void*>(&::SSL_new);
}

GrpcTlsBufferCounts GrpcTlsBufferCountsNow() {
  return {g_lazy_pairs.load(std::memory_order_relaxed),
          g_releasing_ssl.load(std::memory_order_relaxed),
          g_passed_through.load(std::memory_order_relaxed)};
}

}  // namespace edge::controller::net

namespace net = edge::controller::net;

// The interposed functions: exported from the executable (see the library's link options), so
// libgrpc's calls reach them before libcrypto's and libssl's.
extern "C" int BIO_new_bio_pair(BIO** bio1, size_t writebuf1, BIO** bio2, size_t writebuf2) {
  if (net::g_on.load(std::memory_order_relaxed) &&
      net::CalledFromLibgrpc(__builtin_return_address(0))) {
    net::g_lazy_pairs.fetch_add(1, std::memory_order_relaxed);
    return net::NewLazyBioPair(bio1, writebuf1, bio2, writebuf2);
  }
  using Fn = int (*)(BIO**, size_t, BIO**, size_t);
  static const auto next = reinterpret_cast<Fn>(net::Next("BIO_new_bio_pair"));
  net::g_passed_through.fetch_add(1, std::memory_order_relaxed);
  return next(bio1, writebuf1, bio2, writebuf2);
}

extern "C" SSL* SSL_new(SSL_CTX* ctx) {
  using Fn = SSL* (*)(SSL_CTX*);
  static const auto next = reinterpret_cast<Fn>(net::Next("SSL_new"));
  SSL* ssl = next(ctx);
  if (ssl != nullptr && net::g_on.load(std::memory_order_relaxed) &&
      net::CalledFromLibgrpc(__builtin_return_address(0))) {
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
    net::g_releasing_ssl.fetch_add(1, std::memory_order_relaxed);
  } else {
    net::g_passed_through.fetch_add(1, std::memory_order_relaxed);
  }
  return ssl;
}
