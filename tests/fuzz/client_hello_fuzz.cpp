// The first bytes a client sends to the operator port (controller/net/client_hello.h), before
// any authentication. Properties: nothing crashes or reads out of bounds; the verdict is
// deterministic; a verdict on a complete input is never "incomplete" for more than the limit
// allows; and what decides is the input, not how it was cut: once a prefix is decided, longer
// inputs with the same prefix get the same verdict.
#include <cstdint>
#include <string_view>

#include "controller/net/client_hello.h"
#include "tests/fuzz/fuzz_support.h"

using namespace edge::controller::net;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  const auto verdict = ClassifyClientHello(bytes);
  if (ClassifyClientHello(bytes) != verdict) edge::fuzz::Die("client_hello", "not deterministic");
  if (verdict == HelloVerdict::kIncomplete && size > kMaxClientHelloWireBytes)
    edge::fuzz::Die("client_hello", "waits for more bytes beyond the limit");
  for (size_t cut : {size / 2, size * 3 / 4}) {
    const auto prefix = ClassifyClientHello(bytes.substr(0, cut));
    if (prefix != HelloVerdict::kIncomplete && prefix != verdict)
      edge::fuzz::Die("client_hello", "a decided prefix changed its verdict when more bytes came");
  }
  return 0;
}
