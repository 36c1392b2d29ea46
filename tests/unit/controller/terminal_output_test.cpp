// What edgectl prints from devices and the controller is shown, never obeyed by the terminal
// (docs/security.md, "device-supplied strings reach operator terminals").
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "controller/edgectl/health_view.h"
#include "controller/edgectl/output.h"

using edge::edgectl::DisplayWidth;
using edge::edgectl::FormatJson;
using edge::edgectl::FormatTable;
using edge::edgectl::TerminalSafe;
using namespace std::string_literals;

namespace {

// No byte a terminal could act on: no C0 control but the newlines FormatTable writes itself,
// no DEL, no C1 control (as a byte or as UTF-8), no bidi control.
bool HasNoTerminalControls(const std::string& text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto b = static_cast<unsigned char>(text[i]);
    if ((b < 0x20 && b != '\n') || b == 0x7F) return false;
    if (b == 0xC2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) <= 0x9F) return false;
    if (b == 0xE2 && i + 2 < text.size() && text[i + 1] == '\x80' &&
        static_cast<unsigned char>(text[i + 2]) >= 0xAA && static_cast<unsigned char>(text[i + 2]) <= 0xAE)
      return false;
    if (b == 0xE2 && i + 2 < text.size() && text[i + 1] == '\x81' &&
        static_cast<unsigned char>(text[i + 2]) >= 0xA6 && static_cast<unsigned char>(text[i + 2]) <= 0xA9)
      return false;
  }
  return true;
}

size_t CountLines(const std::string& text) { return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')); }

// What a compromised device reports as its version: clear the screen, go home, and draw a
// healthy-looking row of its own.
const std::string kForgery = "v1\x1b[2J\x1b[H\r\ngw-7z   plant-7   online   kws:v3   committed   1s";

}  // namespace

TEST_CASE("TerminalSafe keeps printable ASCII and valid UTF-8 as they are", "[edgectl][output]") {
  CHECK(TerminalSafe("") == "");
  CHECK(TerminalSafe("gw-1 kws:v3 (committed) 100%") == "gw-1 kws:v3 (committed) 100%");
  CHECK(TerminalSafe("kws:v2→v3") == "kws:v2→v3");
  CHECK(TerminalSafe("Zürich 東京 ✓ \xF0\x9F\x98\x80") == "Zürich 東京 ✓ \xF0\x9F\x98\x80");
  CHECK(TerminalSafe("\xC2\xA0\xC2\xA9") == "\xC2\xA0\xC2\xA9");  // U+00A0, U+00A9: first past C1
}

TEST_CASE("TerminalSafe escapes every C0 control and DEL", "[edgectl][output]") {
  CHECK(TerminalSafe("a\nb") == "a\\nb");
  CHECK(TerminalSafe("a\rb") == "a\\rb");
  CHECK(TerminalSafe("a\tb") == "a\\tb");
  CHECK(TerminalSafe("\x1b[31mred") == "\\x1b[31mred");
  CHECK(TerminalSafe("bell\x07") == "bell\\x07");
  CHECK(TerminalSafe("back\x08space") == "back\\x08space");
  CHECK(TerminalSafe("nul\0byte"s) == "nul\\x00byte");
  CHECK(TerminalSafe("del\x7f") == "del\\x7f");
  for (int c = 0; c < 0x20; ++c) {
    const std::string out = TerminalSafe(std::string(1, static_cast<char>(c)));
    INFO(c);
    CHECK(out.size() >= 2);
    CHECK(out[0] == '\\');
    CHECK(HasNoTerminalControls(out));
  }
}

TEST_CASE("TerminalSafe escapes C1 controls given as UTF-8", "[edgectl][output]") {
  CHECK(TerminalSafe("\xC2\x9B" "2J") == "\\u009b2J");  // CSI: ESC [ in one code point
  CHECK(TerminalSafe("\xC2\x80") == "\\u0080");
  CHECK(TerminalSafe("\xC2\x9D" "0;title\xC2\x9C") == "\\u009d0;title\\u009c");  // OSC ... ST
  for (unsigned cp = 0x80; cp <= 0x9F; ++cp) {
    const std::string utf8 = {static_cast<char>(0xC2), static_cast<char>(cp)};
    char want[8];
    std::snprintf(want, sizeof want, "\\u%04x", cp);
    CHECK(TerminalSafe(utf8) == want);
  }
}

TEST_CASE("TerminalSafe escapes bidi controls and line separators", "[edgectl][output]") {
  CHECK(TerminalSafe("abc\xE2\x80\xAE" "cba") == "abc\\u202ecba");  // RIGHT-TO-LEFT OVERRIDE
  CHECK(TerminalSafe("\xE2\x80\xAA\xE2\x80\xAB\xE2\x80\xAC\xE2\x80\xAD") == "\\u202a\\u202b\\u202c\\u202d");
  CHECK(TerminalSafe("\xE2\x81\xA6\xE2\x81\xA7\xE2\x81\xA8\xE2\x81\xA9") == "\\u2066\\u2067\\u2068\\u2069");
  CHECK(TerminalSafe("\xE2\x80\x8E\xE2\x80\x8F\xD8\x9C") == "\\u200e\\u200f\\u061c");  // LRM, RLM, ALM
  CHECK(TerminalSafe("a\xE2\x80\xA8" "b\xE2\x80\xA9") == "a\\u2028b\\u2029");
  // Neighbours that are ordinary punctuation stay.
  CHECK(TerminalSafe("\xE2\x80\xA9\xE2\x80\xAF") == "\\u2029\xE2\x80\xAF");
}

TEST_CASE("TerminalSafe shows each byte of invalid UTF-8", "[edgectl][output]") {
  CHECK(TerminalSafe("\x9b" "2J") == "\\x9b2J");           // a lone C1 byte (8-bit CSI)
  CHECK(TerminalSafe("\xff\xfe") == "\\xff\\xfe");
  CHECK(TerminalSafe("\xC0\xAF") == "\\xc0\\xaf");          // overlong '/'
  CHECK(TerminalSafe("\xC1\x9B") == "\\xc1\\x9b");          // overlong C1 CSI
  CHECK(TerminalSafe("\xE0\x80\x9B") == "\\xe0\\x80\\x9b");  // overlong, 3 bytes
  CHECK(TerminalSafe("\xED\xA0\x80") == "\\xed\\xa0\\x80");  // surrogate U+D800
  CHECK(TerminalSafe("\xF4\x90\x80\x80") == "\\xf4\\x90\\x80\\x80");  // above U+10FFFF
  CHECK(TerminalSafe("ok\xE2\x80") == "ok\\xe2\\x80");       // truncated at the end
  CHECK(TerminalSafe("\xE2" "A") == "\\xe2A");               // resynchronises on the next byte
}

TEST_CASE("TerminalSafe escapes the backslash, so no escape can be forged", "[edgectl][output]") {
  CHECK(TerminalSafe("C:\\dir") == "C:\\\\dir");
  // A device sending the text of an escape is shown differently from one sending the byte.
  CHECK(TerminalSafe("\\x1b") == "\\\\x1b");
  CHECK(TerminalSafe("\x1b") == "\\x1b");
  CHECK(TerminalSafe("\\x1b") != TerminalSafe("\x1b"));
  CHECK(TerminalSafe("\\n") != TerminalSafe("\n"));
  CHECK(TerminalSafe("\\u009b") != TerminalSafe("\xC2\x9B"));
  CHECK(TerminalSafe("\\x9b") != TerminalSafe("\x9b"));
}

TEST_CASE("A forged row in get devices stays inside its cell", "[edgectl][output]") {
  const std::vector<std::string> headers = {"DEVICE", "SITE", "STATUS", "MODELS", "STATE", "LAST SEEN"};
  const std::vector<std::vector<std::string>> rows = {
      {"gw-1", "plant-7", "online", "kws:" + kForgery, "committed", "2s"},
      {"gw-2", "plant-7", "offline", "kws:v1", "committed\x1b[32m", "5m"}};
  const std::string table = FormatTable(headers, rows);
  CHECK(CountLines(table) == 3);  // the header and two devices: no third device line
  CHECK(HasNoTerminalControls(table));
  CHECK(table.find("gw-7z") != std::string::npos);  // shown, inside gw-1's row
  std::istringstream lines(table);
  std::string line;
  std::getline(lines, line);
  std::getline(lines, line);
  CHECK(line.rfind("gw-1", 0) == 0);
  CHECK(line.find("kws:v1\\x1b[2J\\x1b[H\\r\\ngw-7z") != std::string::npos);
}

TEST_CASE("Table columns are as wide as the escaped text", "[edgectl][output]") {
  const std::string table = FormatTable({"A", "B"}, {{"x\x1b", "end"}, {"→é", "end"}, {"plain", "end"}});
  // Every "end" starts in the same column (counted in code points).
  std::istringstream lines(table);
  std::string line;
  std::getline(lines, line);  // header
  std::vector<size_t> columns;
  while (std::getline(lines, line)) {
    const size_t at = line.find("end");
    REQUIRE(at != std::string::npos);
    columns.push_back(DisplayWidth(line.substr(0, at)));
  }
  REQUIRE(columns.size() == 3);
  CHECK(columns[0] == columns[1]);
  CHECK(columns[1] == columns[2]);
  CHECK(columns[0] == std::string("x\\x1b").size() + 3);  // the widest cell is the escaped one
  CHECK(table.find("x\\x1b   end") != std::string::npos);
  CHECK(DisplayWidth("→é") == 2);
  CHECK(DisplayWidth(TerminalSafe("\x9b")) == 4);
}

TEST_CASE("describe device shows forged lines as text", "[edgectl][output]") {
  edge::v1::DeviceDetail detail;
  auto* d = detail.mutable_device();
  d->set_id("gw-1");
  d->set_site("plant-7");
  d->set_online(false);
  d->set_agent_version(kForgery);
  detail.set_facts_json("{\"os\":\"\x1b]0;owned\x07\"}");
  auto* m = d->add_models();
  m->set_model("kws");
  m->set_reported_version(kForgery);
  m->set_state("committed\r\nModels:\xC2\x9B" "2J");
  m->set_detail("\xE2\x80\xAE" "deliaf");
  auto* h = detail.mutable_health()->add_models();
  h->set_model("kws");
  h->set_version(kForgery);
  h->set_state("serving\n  gw-7z online");
  auto* e = detail.add_events();
  e->set_model("kws");
  e->set_version("v3");
  e->set_outcome("committed");
  e->set_reason("ok\r\n\x1b[1A\x1b[2K");
  auto* a = detail.add_recent_audit();
  a->set_action("deploy");
  a->set_actor("operator/admin\n  fake audit line");
  a->set_detail("\x9b\xff");

  edge::v1::DeviceDetail plain = detail;
  plain.mutable_device()->set_agent_version("v1");
  plain.set_facts_json("{}");
  plain.mutable_device()->mutable_models(0)->set_reported_version("v1");
  plain.mutable_device()->mutable_models(0)->set_state("committed");
  plain.mutable_device()->mutable_models(0)->set_detail("failed");
  plain.mutable_health()->mutable_models(0)->set_version("v1");
  plain.mutable_health()->mutable_models(0)->set_state("serving");
  plain.mutable_events(0)->set_reason("ok");
  plain.mutable_recent_audit(0)->set_actor("operator/admin");
  plain.mutable_recent_audit(0)->set_detail("x");

  std::ostringstream forged, honest;
  edge::edgectl::PrintDeviceDetail(detail, 1'800'000'000, forged);
  edge::edgectl::PrintDeviceDetail(plain, 1'800'000'000, honest);
  INFO(forged.str());
  CHECK(HasNoTerminalControls(forged.str()));
  // The same number of lines as the honest view: nothing injected a line.
  CHECK(CountLines(forged.str()) == CountLines(honest.str()));
  CHECK(forged.str().find("Agent version:  v1\\x1b[2J\\x1b[H\\r\\ngw-7z") != std::string::npos);
  CHECK(forged.str().find("(\\u202edeliaf)") != std::string::npos);
  CHECK(forged.str().find("\\x9b\\xff") != std::string::npos);
}

TEST_CASE("FormatJson escapes controls and does not throw on invalid UTF-8", "[edgectl][output]") {
  nlohmann::json j = {{"version", "v1\x1b[2J\r\n"}, {"state", "\xC2\x9B" "2J\xE2\x80\xAE"}, {"detail", "\xff\xfe ok"}};
  std::string out;
  REQUIRE_NOTHROW(out = FormatJson(j));
  CHECK(HasNoTerminalControls(out));
  for (unsigned char c : out) CHECK(c < 0x80);  // ASCII only
  // Still the same data for a program reading it; invalid bytes become U+FFFD.
  const auto back = nlohmann::json::parse(out);
  CHECK(back["version"] == "v1\x1b[2J\r\n");
  CHECK(back["state"] == "\xC2\x9B" "2J\xE2\x80\xAE");
  CHECK(back["detail"] == "\xEF\xBF\xBD\xEF\xBF\xBD ok");
}

TEST_CASE("FormatYaml writes JSON's data as block YAML, strings quoted and ASCII only", "[edgectl][output]") {
  const nlohmann::json doc = {
      {"name", "gw-1"},
      {"labels", {{"line", "3"}, {"true", "no"}, {"a b", "x"}}},
      {"models", {{{"name", "kws"}, {"version", "v1"}}, {{"name", "ad"}, {"version", "v2"}}}},
      {"empty", nlohmann::json::object()},
      {"none", nlohmann::json::array()},
      {"n", 3},
      {"ok", true},
      {"gone", nullptr},
      {"evil", "\x1b[2J\nnext: line \xc2\x9b"},
      {"matrix", {{1, 2}, nlohmann::json::array()}}};
  CHECK(edge::edgectl::FormatYaml(doc) ==
        "empty: {}\n"
        "evil: \"\\u001b[2J\\nnext: line \\u009b\"\n"
        "gone: null\n"
        "labels:\n"
        "  \"a b\": \"x\"\n"
        "  line: \"3\"\n"
        "  \"true\": \"no\"\n"
        "matrix:\n"
        "  - - 1\n"
        "    - 2\n"
        "  - []\n"
        "models:\n"
        "  - name: \"kws\"\n"
        "    version: \"v1\"\n"
        "  - name: \"ad\"\n"
        "    version: \"v2\"\n"
        "\"n\": 3\n"  // y and n are YAML 1.1 booleans
        "name: \"gw-1\"\n"
        "none: []\n"
        "ok: true\n");
  CHECK(edge::edgectl::FormatYaml(nlohmann::json::array()) == "[]\n");
  CHECK(edge::edgectl::FormatYaml("x") == "\"x\"\n");
}
