# Cross build for arm64 (aarch64) Linux gateways on a Debian 12 x86-64 host:
#   deploy/install-deps.sh --arch arm64   (crossbuild-essential-arm64, qemu-user, :arm64 libraries)
#   cmake --preset arm64                  (this file; tests/run.sh --arch arm64 does all of it)
# The libraries come from Debian's multiarch packages (/usr/lib/aarch64-linux-gnu, headers in
# /usr/include and /usr/include/aarch64-linux-gnu); build tools (protoc, grpc_cpp_plugin) are
# the host's. Tests run under qemu-user: ctest through CMAKE_CROSSCOMPILING_EMULATOR, scripts
# through binfmt_misc; the emulated CPU comes from QEMU_CPU (cortex-a72, cortex-a76, max).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)
set(PKG_CONFIG_EXECUTABLE /usr/bin/aarch64-linux-gnu-pkg-config CACHE FILEPATH "pkg-config for the arm64 libraries")
# Never link a host (x86-64) library by accident.
list(APPEND CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/cmake)
# No -L: with multiarch libc:arm64 installed, qemu's default loader path finds the arm64
# libraries, and -L /usr/aarch64-linux-gnu would mix two glibc builds.
find_program(EDGE_QEMU_AARCH64 qemu-aarch64 REQUIRED)
set(CMAKE_CROSSCOMPILING_EMULATOR ${EDGE_QEMU_AARCH64})
