// A small seeded random source for tests (xorshift64): the same draws on every run, so a
// failure reproduces.
#pragma once

#include <cstdint>

namespace fhirlake::testing {

struct Random {
  uint64_t x = 88172645463325252ull;
  uint64_t Next() {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    return x;
  }
  int Below(int n) { return static_cast<int>(Next() % static_cast<uint64_t>(n)); }
};

}  // namespace fhirlake::testing
