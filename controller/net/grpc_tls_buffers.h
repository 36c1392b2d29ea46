// gRPC's per-connection TLS buffers, held only while bytes wait in them.
//
// gRPC 1.51's TLS (tsi, in libgrpc) gives each connection an SSL object and an OpenSSL BIO pair
// between it and the socket, and no way to size either: four buffers of about 17 KB per
// connection (the pair's two, libssl's read and write buffers) that an idle agent connection
// never empties out of. Debian's gRPC calls libssl and libcrypto through the dynamic linker,
// which binds those calls to the executable's own definitions first; the controller defines
// BIO_new_bio_pair and SSL_new (this file's .cpp). For calls made from libgrpc, while switched
// on, they hand out a lazy pair (lazy_bio_pair.h: same capacities, buffers allocated per write
// and freed when read empty) and set SSL_MODE_RELEASE_BUFFERS (libssl frees its read and write
// buffers whenever they are empty). Every other caller (the front's own TLS, edgectl code in
// tests), and every call while switched off, gets OpenSSL's functions unchanged.
//
// The cost is an allocation and a free per TLS record in each direction on gRPC connections
// (docs/benchmarks.md "Fleet scale"). Switched by the controller config's
// "grpc_tls_buffers_on_demand" (docs/operations.md, "Scaling").
#pragma once

#include <cstdint>

namespace edge::controller::net {

// Applies to connections gRPC sets up from now on (existing ones keep what they have).
void SetGrpcTlsBuffersOnDemand(bool on);

// Whether the dynamic linker resolves BIO_new_bio_pair and SSL_new to this executable's
// definitions (false if a build lost their export: then the switch changes nothing).
bool GrpcTlsBuffersInterposed();

struct GrpcTlsBufferCounts {
  uint64_t lazy_pairs = 0;      // BIO pairs made lazy for libgrpc
  uint64_t releasing_ssl = 0;   // SSL objects libgrpc made, set to release their buffers
  uint64_t passed_through = 0;  // calls (from anywhere) given OpenSSL's functions unchanged
};
GrpcTlsBufferCounts GrpcTlsBufferCountsNow();

}  // namespace edge::controller::net
