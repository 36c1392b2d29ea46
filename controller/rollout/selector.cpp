// TEMPORARY local placeholder (not committed): the labels branch brings the real one.
#include "controller/rollout/selector.h"
namespace edge::controller::rollout {
Result<Selector> Selector::Parse(std::string_view text) {
  Selector s;
  std::string t(text);
  size_t pos = 0;
  while (pos < t.size()) {
    auto comma = t.find(',', pos);
    std::string part = t.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    pos = comma == std::string::npos ? t.size() : comma + 1;
    Requirement r;
    if (auto ne = part.find("!="); ne != std::string::npos) { r.key = part.substr(0, ne); r.op = Requirement::Op::kNotEquals; r.value = part.substr(ne + 2); }
    else if (auto eq = part.find('='); eq != std::string::npos) { r.key = part.substr(0, eq); r.value = part.substr(eq + 1); }
    else if (!part.empty() && part[0] == '!') { r.key = part.substr(1); r.op = Requirement::Op::kNotExists; }
    else { r.key = part; r.op = Requirement::Op::kExists; }
    s.requirements_.push_back(r);
  }
  return s;
}
bool Selector::Matches(const Labels& labels) const {
  for (const auto& r : requirements_) {
    auto it = labels.find(r.key);
    switch (r.op) {
      case Requirement::Op::kEquals: if (it == labels.end() || it->second != r.value) return false; break;
      case Requirement::Op::kNotEquals: if (it != labels.end() && it->second == r.value) return false; break;
      case Requirement::Op::kExists: if (it == labels.end()) return false; break;
      case Requirement::Op::kNotExists: if (it != labels.end()) return false; break;
    }
  }
  return true;
}
}  // namespace edge::controller::rollout
