#include "controller/rollout/selector.h"

#include <set>

#include "common/core/text.h"

namespace edge::controller::rollout {
namespace {

bool KeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '/';
}
bool ValueChar(char c) { return KeyChar(c) && c != '/'; }
bool Alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

// For messages: the text as given, cut and with anything unprintable replaced.
std::string Quote(std::string_view text) {
  return "'" + text::TerminalSafe(text.substr(0, 80)) + (text.size() > 80 ? "...'" : "'");
}

}  // namespace

Status CheckLabelKey(std::string_view key) {
  if (key.empty() || key.size() > 63 || !Alnum(key.front()))
    return Fail(ErrorCode::kInvalidArgument,
                "label key " + Quote(key) + " must be 1-63 characters of [A-Za-z0-9._/-], starting with a letter or digit");
  for (char c : key)
    if (!KeyChar(c))
      return Fail(ErrorCode::kInvalidArgument, "label key " + Quote(key) + " may only have [A-Za-z0-9._/-]");
  return Ok();
}

Status CheckLabelValue(std::string_view value) {
  if (value.size() > 63) return Fail(ErrorCode::kInvalidArgument, "label value " + Quote(value) + " is longer than 63 characters");
  for (char c : value)
    if (!ValueChar(c)) return Fail(ErrorCode::kInvalidArgument, "label value " + Quote(value) + " may only have [A-Za-z0-9._-]");
  return Ok();
}

Result<Selector> Selector::Parse(std::string_view text) {
  Selector s;
  if (text.empty()) return s;
  if (text.size() > 1024) return Fail(ErrorCode::kInvalidArgument, "label selector is longer than 1024 characters");
  size_t pos = 0;
  for (;;) {
    const size_t comma = text.find(',', pos);
    const std::string_view part = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    auto bad = [&](const std::string& why) {
      return Fail(ErrorCode::kInvalidArgument, "label selector " + Quote(text) + ": requirement " + Quote(part) + " " + why);
    };
    if (part.empty()) return bad("is empty (a stray comma?)");
    Requirement r;
    std::string_view key;
    if (auto ne = part.find("!="); ne != std::string_view::npos) {
      key = part.substr(0, ne);
      r.op = Requirement::Op::kNotEquals;
      r.value = std::string(part.substr(ne + 2));
    } else if (auto eq = part.find('='); eq != std::string_view::npos) {
      key = part.substr(0, eq);
      std::string_view value = part.substr(eq + 1);
      if (!value.empty() && value.front() == '=') value.remove_prefix(1);  // key==value
      r.op = Requirement::Op::kEquals;
      r.value = std::string(value);
    } else if (part.front() == '!') {
      key = part.substr(1);
      r.op = Requirement::Op::kNotExists;
    } else {
      key = part;
      r.op = Requirement::Op::kExists;
    }
    if (auto k = CheckLabelKey(key); !k) return bad(k.error().message);
    if (auto v = CheckLabelValue(r.value); !v) return bad(v.error().message);
    r.key = std::string(key);
    s.requirements_.push_back(std::move(r));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return s;
}

bool Selector::Matches(const Labels& labels) const {
  for (const auto& r : requirements_) {
    const auto it = labels.find(r.key);
    const bool has = it != labels.end();
    switch (r.op) {
      case Requirement::Op::kEquals:
        if (!has || it->second != r.value) return false;
        break;
      case Requirement::Op::kNotEquals:
        if (has && it->second == r.value) return false;
        break;
      case Requirement::Op::kExists:
        if (!has) return false;
        break;
      case Requirement::Op::kNotExists:
        if (has) return false;
        break;
    }
  }
  return true;
}

Result<LabelEdit> ParseLabelEdits(const std::vector<std::string>& args) {
  LabelEdit edit;
  std::set<std::string> seen;
  if (args.empty()) return Fail(ErrorCode::kInvalidArgument, "give labels to set (key=value) or remove (key-)");
  for (const auto& a : args) {
    std::string key;
    if (auto eq = a.find('='); eq != std::string::npos) {
      key = a.substr(0, eq);
      const std::string value = a.substr(eq + 1);
      EDGE_TRY(CheckLabelKey(key));
      EDGE_TRY(CheckLabelValue(value));
      edit.set[key] = value;
    } else if (!a.empty() && a.back() == '-') {
      key = a.substr(0, a.size() - 1);
      EDGE_TRY(CheckLabelKey(key));
      edit.remove.push_back(key);
    } else {
      return Fail(ErrorCode::kInvalidArgument, Quote(a) + " is neither key=value (set) nor key- (remove)");
    }
    if (!seen.insert(key).second) return Fail(ErrorCode::kInvalidArgument, "label " + Quote(key) + " is given twice");
  }
  return edit;
}

}  // namespace edge::controller::rollout
