// Label selectors, as kubectl writes them: a comma-separated list of requirements that must all
// hold. `key=value` (also `key==value`), `key!=value` (true when the key is absent too), `key`
// (present), `!key` (absent). Keys: [A-Za-z0-9._/-]{1,63}, starting with a letter or digit;
// values: [A-Za-z0-9._-]{0,63}. Pure: no I/O.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/core/result.h"

namespace edge::controller::rollout {

using Labels = std::map<std::string, std::string>;

struct Requirement {
  enum class Op { kEquals, kNotEquals, kExists, kNotExists };
  std::string key;
  Op op = Op::kEquals;
  std::string value;
};

class Selector {
 public:
  // Errors name the offending requirement. The empty text selects everything.
  static Result<Selector> Parse(std::string_view text);
  bool Matches(const Labels& labels) const;
  bool Empty() const { return requirements_.empty(); }
  const std::vector<Requirement>& requirements() const { return requirements_; }

 private:
  std::vector<Requirement> requirements_;
};

Status CheckLabelKey(std::string_view key);
Status CheckLabelValue(std::string_view value);
// Device labels as given on a command line: `key=value` sets, `key-` removes.
struct LabelEdit {
  Labels set;
  std::vector<std::string> remove;
};
Result<LabelEdit> ParseLabelEdits(const std::vector<std::string>& args);

}  // namespace edge::controller::rollout
