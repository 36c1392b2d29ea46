// Private: strict reading of JSON objects. Every key must be consumed, so a key the schema does
// not know is an error that names it (a typo in a signed manifest must not be silently ignored).
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/result.h"

namespace edge::bundle::detail {

class ObjectReader {
 public:
  // `path` names the object in errors, e.g. "manifest.compat".
  static Result<ObjectReader> Open(const nlohmann::json& value, std::string path);

  Result<std::string> String(std::string_view key, size_t max_len = 256);
  Result<std::optional<std::string>> OptionalString(std::string_view key, size_t max_len = 256);
  Result<uint64_t> Unsigned(std::string_view key, uint64_t max = UINT64_MAX);
  Result<std::optional<uint64_t>> OptionalUnsigned(std::string_view key, uint64_t max = UINT64_MAX);
  Result<std::optional<int64_t>> OptionalInt(std::string_view key);
  Result<std::optional<double>> OptionalNumber(std::string_view key);
  Result<std::optional<std::vector<std::string>>> OptionalStringArray(std::string_view key,
                                                                      size_t max_items = 256);
  // Array or object members are returned raw, to be read with their own reader.
  Result<const nlohmann::json*> Array(std::string_view key);
  const nlohmann::json* Find(std::string_view key);

  // Errors on the first key that was never read.
  Status Finish() const;
  const std::string& path() const { return path_; }
  std::string Field(std::string_view key) const { return path_ + "." + std::string(key); }

 private:
  ObjectReader(const nlohmann::json& value, std::string path)
      : value_(&value), path_(std::move(path)) {}
  Result<const nlohmann::json*> Required(std::string_view key);

  const nlohmann::json* value_;
  std::string path_;
  std::set<std::string, std::less<>> used_;
};

tl::unexpected<Error> FieldError(const std::string& field, std::string_view problem);

}  // namespace edge::bundle::detail
