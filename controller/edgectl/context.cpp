#include "controller/edgectl/context.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "common/core/config.h"
#include "common/core/fs.h"
#include "controller/edgectl/controller_address.h"

namespace edge::edgectl {

std::filesystem::path DefaultConfigPath() {
  if (const char* env = std::getenv("EDGECTL_CONFIG"); env && *env) return env;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) return std::filesystem::path(xdg) / "edgectl" / "config";
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home ? home : ".") / ".config" / "edgectl" / "config";
}

Result<Context> LoadContext(const std::filesystem::path& file, const std::string& wanted) {
  auto bad = [&](const std::string& m) { return Fail(ErrorCode::kBadConfig, "edgectl config " + file.string() + ": " + m); };
  if (!std::filesystem::exists(file))
    return bad("does not exist; create one with `edgectl pki init` or pass --config (see docs/cli.md)");
  EDGE_ASSIGN_OR_RETURN(auto obj, config::LoadObject(file));
  EDGE_TRY(config::RejectUnknownKeys(obj, {"current_context", "contexts"}, "edgectl config " + file.string()));
  auto current = config::GetString(obj, "current_context", std::string());
  if (!current) return bad(current.error().message);
  const std::string name = wanted.empty() ? *current : wanted;
  auto contexts = obj.find("contexts");
  if (contexts == obj.end() || !contexts->is_object()) return bad("has no \"contexts\" object");
  if (name.empty()) return bad("no current_context set and no --context given");
  auto it = contexts->find(name);
  if (it == contexts->end()) return bad("has no context named '" + name + "'");
  EDGE_TRY(config::RejectUnknownKeys(*it, {"controller", "ca", "cert", "key", "connect_timeout_ms"},
                                     "edgectl config " + file.string() + ": context '" + name + "'"));
  Context c;
  c.name = name;
  const auto base = file.parent_path();
  auto path = [&](const char* key, std::filesystem::path& out) -> Status {
    EDGE_ASSIGN_OR_RETURN(auto v, config::GetString(*it, key));
    out = std::filesystem::path(v).is_absolute() ? std::filesystem::path(v) : base / v;
    return Ok();
  };
  EDGE_ASSIGN_OR_RETURN(c.controller, config::GetString(*it, "controller"));
  if (auto address = ParseControllerAddresses(c.controller); !address)
    return bad("context '" + name + "': " + address.error().message);
  EDGE_TRY(path("ca", c.ca));
  EDGE_TRY(path("cert", c.cert));
  EDGE_TRY(path("key", c.key));
  auto timeout = config::GetInt(*it, "connect_timeout_ms", tls::kDefaultConnectTimeout.count(),
                                tls::kMinConnectTimeout.count(), tls::kMaxConnectTimeout.count());
  if (!timeout) return bad("context '" + name + "': " + timeout.error().message);
  c.connect_timeout = std::chrono::milliseconds(*timeout);
  return c;
}

Status WriteContextFile(const std::filesystem::path& file, const Context& c) {
  // The caller's relative paths are relative to the working directory, but LoadContext resolves
  // them against the config file's directory: store them relative to that directory (which also
  // lets a PKI directory holding its edgectl.json be moved as a whole). Absolute paths stay.
  std::error_code ec;
  const auto base = std::filesystem::absolute(file, ec).parent_path().lexically_normal();
  if (ec) return Fail(ErrorCode::kIo, "cannot resolve " + file.string() + ": " + ec.message());
  auto stored = [&](const std::filesystem::path& p) -> std::string {
    if (p.is_absolute()) return p.string();
    return std::filesystem::absolute(p, ec).lexically_normal().lexically_proximate(base).string();
  };
  nlohmann::json j = {{"current_context", c.name},
                      {"contexts", {{c.name, {{"controller", c.controller}, {"ca", stored(c.ca)},
                                              {"cert", stored(c.cert)}, {"key", stored(c.key)}}}}}};
  if (file.has_parent_path()) EDGE_TRY(fs::CreateDirectories(file.parent_path(), 0700));
  return fs::WriteFileAtomic(file, j.dump(2) + "\n", 0600);
}

Result<ContextList> ListContexts(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file))
    return Fail(ErrorCode::kBadConfig, "edgectl config " + file.string() + ": does not exist");
  EDGE_ASSIGN_OR_RETURN(auto obj, config::LoadObject(file));
  ContextList list;
  if (auto it = obj.find("current_context"); it != obj.end() && it->is_string()) list.current = it->get<std::string>();
  auto contexts = obj.find("contexts");
  if (contexts == obj.end() || !contexts->is_object()) return list;
  for (const auto& [name, _] : contexts->items()) {
    EDGE_ASSIGN_OR_RETURN(auto c, LoadContext(file, name));
    list.contexts.push_back(std::move(c));
  }
  return list;
}

Status UseContext(const std::filesystem::path& file, const std::string& name) {
  if (!std::filesystem::exists(file))
    return Fail(ErrorCode::kBadConfig, "edgectl config " + file.string() + ": does not exist");
  EDGE_ASSIGN_OR_RETURN(auto obj, config::LoadObject(file));
  EDGE_TRY(LoadContext(file, name));  // exists and is usable
  obj["current_context"] = name;
  return fs::WriteFileAtomic(file, obj.dump(2) + "\n", 0600);
}

}  // namespace edge::edgectl
