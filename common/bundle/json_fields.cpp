#include "common/bundle/json_fields.h"

#include <cmath>
#include <limits>

namespace edge::bundle::detail {

tl::unexpected<Error> FieldError(const std::string& field, std::string_view problem) {
  return Fail(ErrorCode::kInvalidArgument, field + ": " + std::string(problem));
}

Result<ObjectReader> ObjectReader::Open(const nlohmann::json& value, std::string path) {
  if (!value.is_object()) {
    return FieldError(path, "must be a JSON object");
  }
  return ObjectReader(value, std::move(path));
}

const nlohmann::json* ObjectReader::Find(std::string_view key) {
  auto it = value_->find(std::string(key));
  if (it == value_->end()) {
    return nullptr;
  }
  used_.emplace(key);
  return &*it;
}

Result<const nlohmann::json*> ObjectReader::Required(std::string_view key) {
  const nlohmann::json* v = Find(key);
  if (!v) {
    return FieldError(Field(key), "missing required field");
  }
  return v;
}

Result<std::string> ObjectReader::String(std::string_view key, size_t max_len) {
  EDGE_ASSIGN_OR_RETURN(const nlohmann::json* v, Required(key));
  if (!v->is_string()) {
    return FieldError(Field(key), "must be a string");
  }
  const auto& s = v->get_ref<const std::string&>();
  if (s.size() > max_len) {
    return FieldError(Field(key), "longer than " + std::to_string(max_len) + " bytes");
  }
  return s;
}

Result<std::optional<std::string>> ObjectReader::OptionalString(std::string_view key,
                                                                size_t max_len) {
  if (value_->find(std::string(key)) == value_->end()) {
    return std::optional<std::string>();
  }
  EDGE_ASSIGN_OR_RETURN(auto s, String(key, max_len));
  return std::optional<std::string>(std::move(s));
}

Result<uint64_t> ObjectReader::Unsigned(std::string_view key, uint64_t max) {
  EDGE_ASSIGN_OR_RETURN(const nlohmann::json* v, Required(key));
  if (!v->is_number_unsigned()) {
    // nlohmann stores non-negative integers as unsigned; anything else is negative or fractional.
    return FieldError(Field(key), "must be a non-negative integer");
  }
  uint64_t n = v->get<uint64_t>();
  if (n > max) {
    return FieldError(Field(key), "exceeds " + std::to_string(max));
  }
  return n;
}

Result<std::optional<uint64_t>> ObjectReader::OptionalUnsigned(std::string_view key, uint64_t max) {
  if (value_->find(std::string(key)) == value_->end()) {
    return std::optional<uint64_t>();
  }
  EDGE_ASSIGN_OR_RETURN(auto n, Unsigned(key, max));
  return std::optional<uint64_t>(n);
}

Result<std::optional<int64_t>> ObjectReader::OptionalInt(std::string_view key) {
  const nlohmann::json* v = Find(key);
  if (!v) {
    return std::optional<int64_t>();
  }
  if (v->is_number_unsigned()) {
    uint64_t n = v->get<uint64_t>();
    if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return FieldError(Field(key), "out of range");
    }
    return std::optional<int64_t>(static_cast<int64_t>(n));
  }
  if (v->is_number_integer()) {
    return std::optional<int64_t>(v->get<int64_t>());
  }
  return FieldError(Field(key), "must be an integer");
}

Result<std::optional<double>> ObjectReader::OptionalNumber(std::string_view key) {
  const nlohmann::json* v = Find(key);
  if (!v) {
    return std::optional<double>();
  }
  if (!v->is_number()) {
    return FieldError(Field(key), "must be a number");
  }
  double d = v->get<double>();
  if (!std::isfinite(d)) {
    return FieldError(Field(key), "must be finite");
  }
  return std::optional<double>(d);
}

Result<std::optional<std::vector<std::string>>> ObjectReader::OptionalStringArray(
    std::string_view key, size_t max_items) {
  const nlohmann::json* v = Find(key);
  if (!v) {
    return std::optional<std::vector<std::string>>();
  }
  if (!v->is_array()) {
    return FieldError(Field(key), "must be an array of strings");
  }
  if (v->size() > max_items) {
    return FieldError(Field(key), "more than " + std::to_string(max_items) + " entries");
  }
  std::vector<std::string> out;
  for (const auto& item : *v) {
    if (!item.is_string()) {
      return FieldError(Field(key), "must be an array of strings");
    }
    out.push_back(item.get<std::string>());
  }
  return std::optional<std::vector<std::string>>(std::move(out));
}

Result<const nlohmann::json*> ObjectReader::Array(std::string_view key) {
  EDGE_ASSIGN_OR_RETURN(const nlohmann::json* v, Required(key));
  if (!v->is_array()) {
    return FieldError(Field(key), "must be an array");
  }
  return v;
}

Status ObjectReader::Finish() const {
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    if (used_.find(it.key()) == used_.end()) {
      return FieldError(path_, "unknown field '" + it.key().substr(0, 64) + "'");
    }
  }
  return Ok();
}

}  // namespace edge::bundle::detail
