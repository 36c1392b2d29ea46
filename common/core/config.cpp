#include "common/core/config.h"

#include <algorithm>

#include "common/core/fs.h"

namespace edge::config {
namespace {

Error BadConfig(std::string message) { return Error{ErrorCode::kBadConfig, std::move(message)}; }

}  // namespace

Result<nlohmann::json> LoadObject(const std::filesystem::path& path) {
  auto text = fs::ReadFile(path, 1 << 20);
  if (!text) return Fail(BadConfig("cannot read config " + path.string() + ": " + text.error().message));
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(*text);
  } catch (const nlohmann::json::exception& e) {
    // Not only parse_error: a number that overflows a double is out_of_range (406).
    return Fail(BadConfig("config " + path.string() + " is not valid JSON: " + e.what()));
  }
  if (!object.is_object()) return Fail(BadConfig("config " + path.string() + " must be a JSON object"));
  return object;
}

Status RejectUnknownKeys(const nlohmann::json& object, std::initializer_list<std::string_view> allowed,
                         std::string_view context) {
  if (!object.is_object()) return Fail(BadConfig(std::string(context) + " must be a JSON object"));
  for (const auto& [key, value] : object.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Fail(BadConfig("unknown key '" + key + "' in " + std::string(context) +
                            " (known keys: " + list + ")"));
    }
  }
  return Ok();
}

Result<std::string> GetString(const nlohmann::json& object, std::string_view key,
                              std::optional<std::string> fallback) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (fallback) return *fallback;
    return Fail(BadConfig("missing required key '" + std::string(key) + "'"));
  }
  if (!it->is_string()) return Fail(BadConfig("key '" + std::string(key) + "' must be a string"));
  // A required key given as "" is as missing as an absent one.
  if (!fallback && it->get_ref<const std::string&>().empty())
    return Fail(BadConfig("key '" + std::string(key) + "' must not be empty"));
  return it->get<std::string>();
}

Result<std::vector<std::string>> SplitAddressList(std::string_view list) {
  std::vector<std::string> out;
  for (size_t from = 0; from <= list.size();) {
    const size_t comma = std::min(list.find(',', from), list.size());
    std::string_view item = list.substr(from, comma - from);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) return Fail(BadConfig("empty address in the list '" + std::string(list) + "'"));
    if (std::find(out.begin(), out.end(), item) != out.end())
      return Fail(BadConfig("address '" + std::string(item) + "' is listed twice"));
    out.emplace_back(item);
    from = comma + 1;
  }
  return out;
}

Result<std::vector<std::string>> GetAddressList(const nlohmann::json& object, std::string_view key,
                                                std::optional<std::vector<std::string>> fallback) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (fallback) return *fallback;
    return Fail(BadConfig("missing required key '" + std::string(key) + "'"));
  }
  const std::string name(key);
  if (it->is_string()) {
    if (it->get_ref<const std::string&>().empty()) return Fail(BadConfig("key '" + name + "' must not be empty"));
    auto list = SplitAddressList(it->get_ref<const std::string&>());
    if (!list) return Fail(list.error().Wrap("key '" + name + "'"));
    return list;
  }
  if (!it->is_array() || it->empty())
    return Fail(BadConfig("key '" + name + "' must be an address (\"host:port\") or a non-empty array of them"));
  std::string joined;
  for (const auto& item : *it) {
    if (!item.is_string() || item.get_ref<const std::string&>().find(',') != std::string::npos)
      return Fail(BadConfig("key '" + name + "' must be an array of addresses (\"host:port\" strings)"));
    joined += (joined.empty() ? "" : ",") + item.get<std::string>();
  }
  auto list = SplitAddressList(joined);
  if (!list) return Fail(list.error().Wrap("key '" + name + "'"));
  return list;
}

Result<int64_t> GetInt(const nlohmann::json& object, std::string_view key,
                       std::optional<int64_t> fallback, int64_t min, int64_t max) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (fallback) return *fallback;
    return Fail(BadConfig("missing required key '" + std::string(key) + "'"));
  }
  if (!it->is_number_integer())
    return Fail(BadConfig("key '" + std::string(key) + "' must be an integer"));
  // get<int64_t>() would wrap an unsigned value above INT64_MAX into a negative number.
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
    return Fail(BadConfig("key '" + std::string(key) + "' = " + std::to_string(it->get<uint64_t>()) +
                          " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]"));
  const auto value = it->get<int64_t>();
  if (value < min || value > max)
    return Fail(BadConfig("key '" + std::string(key) + "' = " + std::to_string(value) +
                          " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]"));
  return value;
}

Result<double> GetDouble(const nlohmann::json& object, std::string_view key, std::optional<double> fallback,
                         double min, double max) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (fallback) return *fallback;
    return Fail(BadConfig("missing required key '" + std::string(key) + "'"));
  }
  if (!it->is_number()) return Fail(BadConfig("key '" + std::string(key) + "' must be a number"));
  const auto value = it->get<double>();
  if (!(value >= min && value <= max))
    return Fail(BadConfig("key '" + std::string(key) + "' = " + it->dump() + " is out of range [" +
                          nlohmann::json(min).dump() + ", " + nlohmann::json(max).dump() + "]"));
  return value;
}

Result<bool> GetBool(const nlohmann::json& object, std::string_view key, std::optional<bool> fallback) {
  auto it = object.find(key);
  if (it == object.end()) {
    if (fallback) return *fallback;
    return Fail(BadConfig("missing required key '" + std::string(key) + "'"));
  }
  if (!it->is_boolean()) return Fail(BadConfig("key '" + std::string(key) + "' must be true or false"));
  return it->get<bool>();
}

}  // namespace edge::config
