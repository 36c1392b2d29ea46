#include "controller/web/dashboard.h"

#include <span>

#include "common/core/embedded_file.h"

namespace edge::controller::web {

std::span<const EmbeddedFile> EmbeddedFiles();  // generated (controller/CMakeLists.txt)

namespace {

constexpr const char* kText = "text/plain; charset=utf-8";

std::string_view ContentType(std::string_view name) {
  if (name.ends_with(".html")) return "text/html; charset=utf-8";
  if (name.ends_with(".js")) return "text/javascript; charset=utf-8";
  if (name.ends_with(".css")) return "text/css; charset=utf-8";
  return "application/octet-stream";
}

const EmbeddedFile* Find(std::string_view name) {
  for (const auto& f : EmbeddedFiles())
    if (f.name == name) return &f;
  return nullptr;
}

}  // namespace

net::WebResponse Serve(std::string_view target, const OverviewJson& overview) {
  std::string_view path = target.substr(0, target.find_first_of("?#"));
  if (path == "/api/overview") {
    auto json = overview();
    if (!json) return Refusal(json.error());
    return {200, "application/json", std::move(*json)};
  }
  if (path == "/" || path == "/index.html") path = "/index.html";
  if (path.size() > 1 && path[0] == '/' && path.find('/', 1) == std::string_view::npos) {
    if (const auto* f = Find(path.substr(1)))
      return {200, std::string(ContentType(f->name)), std::string(f->content)};
  }
  return {404, kText, "not found\n"};
}

net::WebResponse Refusal(const Error& error) {
  int status = 500;
  switch (error.code) {
    case ErrorCode::kPermissionDenied:
    case ErrorCode::kUnauthenticated: status = 403; break;
    case ErrorCode::kResourceExhausted:
    case ErrorCode::kUnavailable: status = 503; break;
    default: break;
  }
  return {status, kText, error.message + "\n"};
}

}  // namespace edge::controller::web
