#include "controller/edgectl/exit_codes.h"

#include <iostream>

namespace edge::edgectl {

int Report(const Error& e) {
  std::cerr << "edgectl: " << e.message << std::endl;
  return ExitCodeFor(e);
}

}  // namespace edge::edgectl
