// Text from outside (a device, a controller, a file) on its way to a terminal or a store.
// Pure functions over UTF-8.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace edge::text {

// `text` with everything a terminal could interpret made visible, so that a compromised device
// cannot clear the screen, recolour it, move the cursor or forge a table row:
//   `\` → `\\`;  LF, CR, TAB → `\n`, `\r`, `\t`;  other C0 controls and DEL → `\x1b` style;
//   C1 controls U+0080–U+009F, bidi controls (U+061C, U+200E–U+200F, U+202A–U+202E,
//   U+2066–U+2069) and U+2028/U+2029 → `\u009b` style;  each byte of invalid UTF-8 (overlong,
//   surrogate, truncated, > U+10FFFF) → `\xff` style.
// Valid printable UTF-8 is kept as it is. Escaping the backslash makes the mapping one-to-one:
// no input can produce the escape another input shows.
std::string TerminalSafe(std::string_view text);
// Terminal columns of text that TerminalSafe returned: one per code point (wide CJK
// characters are counted as one).
size_t DisplayWidth(std::string_view safe_text);
// `text` as free text to store: control characters (but tab), DEL, C1, bidi and line-separator
// code points and invalid UTF-8 each become U+FFFD; everything else is kept as it is.
std::string PlainText(std::string_view text);

}  // namespace edge::text
