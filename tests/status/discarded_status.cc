// Compiled (never run) by the status_compile tests: with DISCARD_STATUS or DISCARD_RESULT it drops
// a returned Status or Result<T>, which the project's warning flags must reject; without either
// it uses them, which must compile.
#include "fhirlake/status.h"

namespace {

fhirlake::Status Check(int n) { return n > 0 ? fhirlake::Status::Ok() : fhirlake::InvalidArgument("n"); }
fhirlake::Result<int> Half(int n) {
  if (n % 2 != 0) return fhirlake::InvalidArgument("odd");
  return n / 2;
}

}  // namespace

int main(int argc, char**) {
#if defined(DISCARD_STATUS)
  Check(argc);
#elif defined(DISCARD_RESULT)
  Half(argc);
#else
  if (!Check(argc).ok()) return 1;
  auto half = Half(argc);
  return half.ok() ? *half : 2;
#endif
  return 0;
}
