// ValueBuffer: the growing byte buffer a ColumnWriter keeps a row group's levels and PLAIN
// values in. A column chunk's buffer grows to tens of megabytes (the `_json` column holds
// every line of the row group), and a std::string or std::vector doubles by allocate, copy,
// free: each doubling copies everything so far and touches fresh pages. Here a large buffer
// is its own memory mapping and grows in place (mremap), so bytes are written once; a small
// one lives on the heap. clear() keeps the capacity for the next row group.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace fhirlake::parquet {

class ValueBuffer {
 public:
  ValueBuffer() = default;
  ~ValueBuffer();
  ValueBuffer(const ValueBuffer&) = delete;
  ValueBuffer& operator=(const ValueBuffer&) = delete;

  const char* data() const { return data_; }
  char* data() { return data_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  void clear() { size_ = 0; }
  std::string_view view() const { return {data_, size_}; }
  char operator[](size_t i) const { return data_[i]; }
  uint8_t byte(size_t i) const { return static_cast<uint8_t>(data_[i]); }

  void append(const char* bytes, size_t n) {
    if (size_ + n > capacity_) Grow(size_ + n);
    if (n) std::memcpy(data_ + size_, bytes, n);
    size_ += n;
  }
  void append(std::string_view bytes) { append(bytes.data(), bytes.size()); }
  // `n` copies of `byte`.
  void append(size_t n, char byte) {
    if (n <= 8 && size_ + 8 <= capacity_) {
      // Level runs are mostly a few bytes: one 8-byte store (what lies past size() is not
      // the buffer's content), cheaper than a loop or a call to memset.
      const uint64_t word = 0x0101010101010101ull * static_cast<uint8_t>(byte);
      std::memcpy(data_ + size_, &word, 8);
      size_ += n;
      return;
    }
    if (size_ + n > capacity_) Grow(size_ + n);
    if (n <= 8) {
      for (size_t i = 0; i < n; ++i) data_[size_ + i] = byte;
    } else {
      std::memset(data_ + size_, byte, n);
    }
    size_ += n;
  }
  void push_back(char c) {
    if (size_ == capacity_) Grow(size_ + 1);
    data_[size_++] = c;
  }

 private:
  void Grow(size_t at_least);

  char* data_ = nullptr;
  size_t size_ = 0, capacity_ = 0;
  bool mapped_ = false;  // data_ is an mmap of capacity_ bytes (else heap)
};

}  // namespace fhirlake::parquet
