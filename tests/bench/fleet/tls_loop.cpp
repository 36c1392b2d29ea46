// The raw-TLS reference of the blob benchmark (blob_bench.sh): P connections on loopback TCP,
// TLS 1.3 with the given certificate, each server writing `size` bytes from memory in 1 MiB
// writes, each client reading and hashing them (sha256) as an agent does. Prints the aggregate
// MB/s. What moving a blob over TLS on this machine costs with nothing else in the way.
//
//   edge-tls-loop --cert PEM --key PEM --ca PEM [--mib N] [--parallel P]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

namespace {

[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "edge-tls-loop: %s\n", what);
  ERR_print_errors_fp(stderr);
  std::exit(1);
}

SSL_CTX* Context(bool server, const char* cert, const char* key, const char* ca) {
  SSL_CTX* ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
  if (!ctx) Die("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  if (server) {
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 || SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
      Die("cannot load the certificate or key");
  } else {
    if (SSL_CTX_load_verify_locations(ctx, ca, nullptr) != 1) Die("cannot load the CA");
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  }
  return ctx;
}

}  // namespace

int main(int argc, char** argv) {
  const char *cert = nullptr, *key = nullptr, *ca = nullptr;
  size_t mib = 64, parallel = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--cert")) cert = argv[i + 1];
    else if (!std::strcmp(argv[i], "--key")) key = argv[i + 1];
    else if (!std::strcmp(argv[i], "--ca")) ca = argv[i + 1];
    else if (!std::strcmp(argv[i], "--mib")) mib = std::strtoul(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--parallel")) parallel = std::strtoul(argv[i + 1], nullptr, 10);
    else Die("usage: edge-tls-loop --cert PEM --key PEM --ca PEM [--mib N] [--parallel P]");
  }
  if (!cert || !key || !ca || mib == 0 || parallel == 0) Die("usage: edge-tls-loop --cert PEM --key PEM --ca PEM [--mib N] [--parallel P]");
  SSL_CTX* sctx = Context(true, cert, key, ca);
  SSL_CTX* cctx = Context(false, cert, key, ca);

  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(listener, 64) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    Die("cannot listen on loopback");
  const size_t total = mib << 20;
  const std::string chunk(1 << 20, 'x');

  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t p = 0; p < parallel; ++p) {
    threads.emplace_back([&] {
      int fd = accept(listener, nullptr, nullptr);
      SSL* ssl = SSL_new(sctx);
      SSL_set_fd(ssl, fd);
      if (SSL_accept(ssl) != 1) Die("server handshake");
      for (size_t sent = 0; sent < total; sent += chunk.size())
        if (SSL_write(ssl, chunk.data(), static_cast<int>(std::min(chunk.size(), total - sent))) <= 0) Die("SSL_write");
      SSL_shutdown(ssl);
      SSL_free(ssl);
      close(fd);
    });
    threads.emplace_back([&] {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) Die("connect");
      SSL* ssl = SSL_new(cctx);
      SSL_set_fd(ssl, fd);
      SSL_set1_host(ssl, "127.0.0.1");
      if (SSL_connect(ssl) != 1) Die("client handshake");
      EVP_MD_CTX* md = EVP_MD_CTX_new();
      EVP_DigestInit_ex(md, EVP_sha256(), nullptr);
      std::vector<char> buf(1 << 20);
      size_t got = 0;
      while (got < total) {
        int n = SSL_read(ssl, buf.data(), static_cast<int>(buf.size()));
        if (n <= 0) Die("SSL_read");
        EVP_DigestUpdate(md, buf.data(), static_cast<size_t>(n));
        got += static_cast<size_t>(n);
      }
      unsigned char out[EVP_MAX_MD_SIZE];
      unsigned int out_len = 0;
      EVP_DigestFinal_ex(md, out, &out_len);
      EVP_MD_CTX_free(md);
      SSL_free(ssl);
      close(fd);
    });
  }
  for (auto& t : threads) t.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%.1f\n", static_cast<double>(total * parallel) / 1e6 / s);
  return 0;
}
