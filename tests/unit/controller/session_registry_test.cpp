// The controller's registry of agent streams: a revoke ends the device's session and every
// stream whose hello passed its checks but still waits for its report batch (such a stream is
// not a session yet; before this registry a revoke in that window left it to become one).
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "common/metrics/memory_registry.h"
#include "common/metrics/timer.h"
#include "controller/api/context.h"
#include "controller/store/timed_store.h"
#include "store_fixture.h"

using namespace edge::controller;

namespace {

struct RecordingStream final : AgentStreamHandle {
  std::vector<std::pair<int, std::string>> closed;
  void Send(const edge::v1::ControllerMessage&) override {}
  void Close(int code, const std::string& message) override { closed.emplace_back(code, message); }
};

}  // namespace

TEST_CASE("Sessions: a revoke closes the device's session and its streams whose hello waits for its batch",
          "[controller][sessions]") {
  EDGE_STORE_FIXTURE(f);
  edge::metrics::MemoryRegistry registry;
  edge::metrics::FakeMonotonicClock mono;
  boost::asio::io_context io;
  ControllerContext ctx(ControllerConfig{}, io, std::make_unique<TimedStore>(std::move(f.store), registry, mono), f.clock);

  auto session = std::make_shared<RecordingStream>();
  auto waiting = std::make_shared<RecordingStream>();   // the same device reconnecting
  auto waiting2 = std::make_shared<RecordingStream>();  // and once more
  auto other = std::make_shared<RecordingStream>();     // another device's hello
  ctx.sessions["gw-1"] = session;
  ctx.pending_hellos.emplace("gw-1", waiting);
  ctx.pending_hellos.emplace("gw-1", waiting2);
  ctx.pending_hellos.emplace("gw-2", other);

  ctx.DisconnectDevice("gw-1", "device gw-1 was revoked by admin");

  for (const auto* s : {session.get(), waiting.get(), waiting2.get()}) {
    REQUIRE(s->closed.size() == 1);
    CHECK(s->closed[0].first == 7);  // PERMISSION_DENIED
    CHECK(s->closed[0].second == "device gw-1 was revoked by admin");
  }
  CHECK(ctx.sessions.count("gw-1") == 0);
  CHECK(other->closed.empty());
  // The hello's batch comes back afterwards: the stream finds it was taken out, so it does not
  // become the session.
  CHECK_FALSE(ctx.ForgetPendingHello("gw-1", waiting.get()));
  CHECK(ctx.ForgetPendingHello("gw-2", other.get()));
  CHECK_FALSE(ctx.ForgetPendingHello("gw-2", other.get()));
  CHECK(ctx.pending_hellos.empty());
}
