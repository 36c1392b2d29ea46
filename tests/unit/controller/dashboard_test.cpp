// The dashboard's routes (controller/web/dashboard.h): what each path answers, and that the
// overview is produced only for its own path.
#include <catch2/catch.hpp>

#include <string>

#include "controller/web/dashboard.h"

using namespace edge;
using namespace edge::controller;

namespace {

struct Counting {
  int calls = 0;
  web::OverviewJson Fn() {
    return [this]() -> Result<std::string> {
      ++calls;
      return std::string(R"({"fleet":"demo"})");
    };
  }
};

}  // namespace

TEST_CASE("the page and its two files are served with their types") {
  Counting overview;
  for (const char* target : {"/", "/index.html", "/?refresh=1", "/#top"}) {
    auto r = web::Serve(target, overview.Fn());
    INFO(target);
    CHECK(r.status == 200);
    CHECK(r.content_type == "text/html; charset=utf-8");
    CHECK(r.body.find("<script src=\"/app.js\"") != std::string::npos);
  }
  auto js = web::Serve("/app.js", overview.Fn());
  CHECK(js.status == 200);
  CHECK(js.content_type == "text/javascript; charset=utf-8");
  CHECK(js.body.find("/api/overview") != std::string::npos);
  CHECK(js.body.find("innerHTML") == std::string::npos);  // text nodes only
  CHECK(web::Serve("/style.css", overview.Fn()).content_type == "text/css; charset=utf-8");
  CHECK(overview.calls == 0);
}

TEST_CASE("the overview is asked for only on its path") {
  Counting overview;
  auto r = web::Serve("/api/overview?t=123", overview.Fn());
  CHECK(r.status == 200);
  CHECK(r.content_type == "application/json");
  CHECK(r.body == R"({"fleet":"demo"})");
  CHECK(overview.calls == 1);
}

TEST_CASE("anything else is 404, never a file outside the page") {
  Counting overview;
  for (const char* target : {"/favicon.ico", "/web/app.js", "//app.js", "/../app.js", "/app.js/", "/api/overview/x",
                             "/api", "/index.html%00", "/APP.JS", "", "app.js", "/dashboard.cpp", "/CMakeLists.txt"}) {
    INFO("'" << target << "'");
    CHECK(web::Serve(target, overview.Fn()).status == 404);
  }
  CHECK(overview.calls == 0);
}

TEST_CASE("refusals become 403, 503 or 500 with the reason") {
  auto denied = web::Refusal(Error{ErrorCode::kPermissionDenied, "operator bob is revoked"});
  CHECK(denied.status == 403);
  CHECK(denied.body == "operator bob is revoked\n");
  CHECK(web::Refusal(Error{ErrorCode::kUnauthenticated, "no certificate"}).status == 403);
  CHECK(web::Refusal(Error{ErrorCode::kResourceExhausted, "busy"}).status == 503);
  CHECK(web::Refusal(Error{ErrorCode::kIo, "disk"}).status == 500);
  auto r = web::Serve("/api/overview", [] () -> Result<std::string> { return Fail(ErrorCode::kIo, "database is locked"); });
  CHECK(r.status == 500);
  CHECK(r.body == "database is locked\n");
}
