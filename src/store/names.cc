#include "fhirlake/store/names.h"

#include <random>

namespace fhirlake::store {
namespace {
constexpr char kHex[] = "0123456789abcdef";
}  // namespace

std::string RandomBytes(size_t bytes) {
  static thread_local std::mt19937_64 rng([] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd();
  }());
  std::string b(bytes, '\0');
  for (auto& c : b) c = static_cast<char>(rng());
  return b;
}

std::string RandomHex(size_t bytes) {
  std::string out;
  for (unsigned char c : RandomBytes(bytes)) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

std::string NewUuidBytes() {
  std::string b = RandomBytes(16);
  b[6] = static_cast<char>((b[6] & 0x0F) | 0x40);
  b[8] = static_cast<char>((b[8] & 0x3F) | 0x80);
  return b;
}

std::string UuidText(std::string_view b) {
  std::string out;
  for (size_t i = 0; i < b.size() && i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out.push_back('-');
    out.push_back(kHex[static_cast<unsigned char>(b[i]) >> 4]);
    out.push_back(kHex[static_cast<unsigned char>(b[i]) & 15]);
  }
  return out;
}

}  // namespace fhirlake::store
