// Operators' calls ahead of the fleet's work on the strand (controller/api/urgent_lane.h).
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <catch2/catch.hpp>

#include "controller/api/urgent_lane.h"

using edge::controller::UrgentLane;

namespace {

struct Loop {
  boost::asio::io_context io;
  UrgentLane::Strand strand = boost::asio::make_strand(io);
  UrgentLane lane{strand};
  std::vector<std::string> ran;
};

}  // namespace

TEST_CASE("UrgentLane: urgent work runs before the fleet work queued ahead of it, which keeps its order") {
  Loop l;
  for (int i = 0; i < 50; ++i) l.lane.PostOrdinary([&l, i] { l.ran.push_back("fleet-" + std::to_string(i)); });
  l.lane.Post([&l] { l.ran.push_back("operator"); });
  l.io.run();
  REQUIRE(l.ran.size() == 51);
  CHECK(l.ran.front() == "operator");
  for (int i = 0; i < 50; ++i) CHECK(l.ran[static_cast<size_t>(i) + 1] == "fleet-" + std::to_string(i));
}

TEST_CASE("UrgentLane: urgent work posted while fleet work runs goes next, and never runs twice") {
  Loop l;
  l.lane.PostOrdinary([&l] {
    l.ran.push_back("fleet-0");
    l.lane.Post([&l] { l.ran.push_back("operator"); });
  });
  for (int i = 1; i < 5; ++i) l.lane.PostOrdinary([&l, i] { l.ran.push_back("fleet-" + std::to_string(i)); });
  l.io.run();
  CHECK(l.ran == std::vector<std::string>{"fleet-0", "operator", "fleet-1", "fleet-2", "fleet-3", "fleet-4"});
}

TEST_CASE("UrgentLane: behind handlers that do not ask for it, urgent work still runs at its own turn") {
  Loop l;
  for (int i = 0; i < 3; ++i) boost::asio::post(l.strand, [&l, i] { l.ran.push_back("timer-" + std::to_string(i)); });
  l.lane.Post([&l] { l.ran.push_back("operator"); });
  boost::asio::post(l.strand, [&l] { l.ran.push_back("timer-3"); });
  l.io.run();
  CHECK(l.ran == std::vector<std::string>{"timer-0", "timer-1", "timer-2", "operator", "timer-3"});
}

TEST_CASE("UrgentLane: urgent work that runs the lane itself does not run itself again or reorder") {
  Loop l;
  l.lane.Post([&l] {
    l.ran.push_back("first");
    l.lane.RunWaiting();  // a nested call does nothing
    l.lane.Post([&l] { l.ran.push_back("posted by first"); });
  });
  l.lane.Post([&l] { l.ran.push_back("second"); });
  l.lane.PostOrdinary([&l] { l.ran.push_back("fleet"); });
  l.io.run();
  CHECK(l.ran == std::vector<std::string>{"first", "second", "posted by first", "fleet"});
}
