// Free text from devices is stored without anything a terminal or a bidi renderer acts on.
#include <catch2/catch.hpp>

#include "common/core/text.h"

using edge::text::PlainText;

TEST_CASE("PlainText replaces controls, C1, bidi and invalid UTF-8 with U+FFFD and keeps the rest", "[text]") {
  const std::string fffd = "\xEF\xBF\xBD";
  CHECK(PlainText("model v3 failed: p99 1.9 ms over 1 ms\tbudget") == "model v3 failed: p99 1.9 ms over 1 ms\tbudget");
  CHECK(PlainText("a\x1b[2Jb") == "a" + fffd + "[2Jb");
  CHECK(PlainText("line\r\nforged") == "line" + fffd + fffd + "forged");
  CHECK(PlainText("\x7f") == fffd);
  CHECK(PlainText("\xC2\x9B" "31m") == fffd + "31m");          // C1 CSI as UTF-8
  CHECK(PlainText("abc\xE2\x80\xAE" "gnp.exe") == "abc" + fffd + "gnp.exe");  // U+202E
  CHECK(PlainText("\xFF\xC0\xAF") == fffd + fffd + fffd);       // invalid bytes, overlong
  CHECK(PlainText("Grüße, 東京") == "Grüße, 東京");
}
