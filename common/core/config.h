// Strict JSON configuration helpers. Every program's config is a JSON object whose unknown
// keys are errors (a typo must not silently fall back to a default). Errors use
// ErrorCode::kBadConfig so that mains exit with 78 (EX_CONFIG).
#pragma once

#include <cstdint>
#include <filesystem>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/core/result.h"

namespace edge::config {

// Reads and parses a config file (≤ 1 MiB); errors name the path and the JSON position.
Result<nlohmann::json> LoadObject(const std::filesystem::path& path);

// Fails naming the first key of `object` not in `allowed`, within `context` (e.g. "agent config").
Status RejectUnknownKeys(const nlohmann::json& object, std::initializer_list<std::string_view> allowed,
                         std::string_view context);

// Typed getters: absent key → `fallback` (or an error when no fallback is given); a present key
// of the wrong type is always an error naming the key and the expected type.
Result<std::string> GetString(const nlohmann::json& object, std::string_view key,
                              std::optional<std::string> fallback = std::nullopt);
Result<int64_t> GetInt(const nlohmann::json& object, std::string_view key,
                       std::optional<int64_t> fallback = std::nullopt, int64_t min = INT64_MIN,
                       int64_t max = INT64_MAX);
// Any JSON number (an integer too), within [min, max].
Result<double> GetDouble(const nlohmann::json& object, std::string_view key, std::optional<double> fallback,
                         double min, double max);
Result<bool> GetBool(const nlohmann::json& object, std::string_view key,
                     std::optional<bool> fallback = std::nullopt);

// Addresses (host:port) of several equivalent servers, in the order to try them: "a:1" or
// "a:1,b:2" (spaces around items allowed). Empty items and repeats are errors naming them.
Result<std::vector<std::string>> SplitAddressList(std::string_view list);
// The same from a config key: a string as above or an array of strings. Absent → `fallback`
// (an error when none is given).
Result<std::vector<std::string>> GetAddressList(const nlohmann::json& object, std::string_view key,
                                                std::optional<std::vector<std::string>> fallback = std::nullopt);

}  // namespace edge::config
