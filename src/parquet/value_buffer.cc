#include "fhirlake/parquet/value_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <utility>
#include <vector>

namespace fhirlake::parquet {
namespace {
// Below this a buffer stays on the heap: most columns of a wide FHIR schema hold a few bytes,
// and a mapping costs at least a page and a system call.
constexpr size_t kMapFrom = 1u << 20;

// The mappings of destroyed buffers, kept for the next buffers to take. A load writes file
// after file, each with new column writers; without this every file's buffers would fault in
// fresh pages again (and the kernel zero them) for each byte of its first row group. Bounded:
// beyond kKeepBytes a mapping is returned to the system.
class MappingPool {
 public:
  static constexpr size_t kKeepBytes = 64u << 20;

  static MappingPool& Get() {
    static MappingPool pool;
    return pool;
  }
  // A kept mapping: the smallest of at least `bytes`, else the largest (to be grown); or
  // {nullptr, 0}.
  std::pair<char*, size_t> Take(size_t bytes) {
    std::lock_guard lock(mu_);
    size_t best = kept_.size();
    for (size_t i = 0; i < kept_.size(); ++i) {
      const size_t size = kept_[i].second, best_size = best < kept_.size() ? kept_[best].second : 0;
      const bool fits = size >= bytes, best_fits = best < kept_.size() && best_size >= bytes;
      if (best == kept_.size() || (fits && (!best_fits || size < best_size)) || (!fits && !best_fits && size > best_size)) {
        best = i;
      }
    }
    if (best == kept_.size()) return {nullptr, 0};
    auto m = kept_[best];
    kept_.erase(kept_.begin() + static_cast<std::ptrdiff_t>(best));
    kept_bytes_ -= m.second;
    return m;
  }
  void Give(char* data, size_t bytes) {
    {
      std::lock_guard lock(mu_);
      if (kept_bytes_ + bytes <= kKeepBytes) {
        kept_.emplace_back(data, bytes);
        kept_bytes_ += bytes;
        return;
      }
    }
    ::munmap(data, bytes);
  }

 private:
  std::mutex mu_;
  std::vector<std::pair<char*, size_t>> kept_;
  size_t kept_bytes_ = 0;
};

// A mapping of at least `bytes` (a multiple of the page size) for a buffer, a kept one where
// there is; returns it and its size.
std::pair<char*, size_t> Map(size_t bytes) {
  auto kept = MappingPool::Get().Take(bytes);
  if (kept.first && kept.second >= bytes) return kept;
  if (kept.first) {
#ifdef MREMAP_MAYMOVE
    void* p = ::mremap(kept.first, kept.second, bytes, MREMAP_MAYMOVE);  // keeps the pages it has
    if (p != MAP_FAILED) return {static_cast<char*>(p), bytes};
#endif
    ::munmap(kept.first, kept.second);
  }
  void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  // Huge pages where the system allows them on request: a 2 MiB page is one fault and one
  // TLB entry where 4 KiB pages are 512 (mremap keeps the advice as the mapping grows).
  (void)::madvise(p, bytes, MADV_HUGEPAGE);
#endif
  return {static_cast<char*>(p), bytes};
}

}  // namespace

ValueBuffer::~ValueBuffer() {
  if (mapped_) {
    MappingPool::Get().Give(data_, capacity_);
  } else {
    std::free(data_);
  }
}

void ValueBuffer::Grow(size_t at_least) {
  size_t capacity = std::max<size_t>({at_least, capacity_ * 2, 64});
  if (capacity < kMapFrom) {
    void* p = std::realloc(data_, capacity);
    if (!p) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    capacity_ = capacity;
    return;
  }
  capacity = (capacity + 4095) & ~size_t{4095};
  void* p;
#ifdef MREMAP_MAYMOVE
  if (mapped_) {
    p = ::mremap(data_, capacity_, capacity, MREMAP_MAYMOVE);  // moves page tables, not bytes
    if (p == MAP_FAILED) throw std::bad_alloc();
    data_ = static_cast<char*>(p);
    capacity_ = capacity;
    return;
  }
#endif
  auto [mapping, mapped_bytes] = Map(capacity);
  p = mapping;
  capacity = mapped_bytes;
  if (size_) std::memcpy(p, data_, size_);
  if (mapped_) {
    ::munmap(data_, capacity_);
  } else {
    std::free(data_);
  }
  data_ = static_cast<char*>(p);
  capacity_ = capacity;
  mapped_ = true;
}

}  // namespace fhirlake::parquet
