// A file compiled into a program (cmake/EmbedFiles.cmake).
#pragma once

#include <string_view>

namespace edge {

struct EmbeddedFile {
  std::string_view name;
  std::string_view content;
};

}  // namespace edge
