// File helpers shared by the tests: whole-file reads and permission bits.
#pragma once

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "common/core/fs.h"

namespace edge::testing {

// The whole file (at most 16 MiB); REQUIREs that it reads.
inline std::string ReadAll(const std::filesystem::path& p) {
  auto bytes = edge::fs::ReadFile(p, 1 << 24);
  INFO(p.string());
  REQUIRE(bytes.has_value());
  return std::move(*bytes);
}

// The permission bits of p (07777); REQUIREs that it exists.
inline mode_t ModeOf(const std::filesystem::path& p) {
  struct stat st {};
  INFO(p.string());
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

}  // namespace edge::testing
