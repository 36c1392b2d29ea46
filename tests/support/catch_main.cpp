// The one main() of every Catch2 test executable. Debian's catch2 package ships its prebuilt
// Catch2WithMain for the host architecture only (and catch2:arm64 cannot be installed beside
// it), so the tests build their own: the same on every architecture.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
