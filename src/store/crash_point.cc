#include "fhirlake/store/crash_point.h"

#include <cstdlib>
#include <cstring>

namespace fhirlake::store {

void CrashPoint(const char* name) {
  const char* chosen = std::getenv("FHIRLAKE_TEST_CRASH");
  if (chosen && std::strcmp(chosen, name) == 0) std::_Exit(86);
}

}  // namespace fhirlake::store
