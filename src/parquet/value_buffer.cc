#include "fhirlake/parquet/value_buffer.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <new>

namespace fhirlake::parquet {
namespace {
// Below this a buffer stays on the heap: most columns of a wide FHIR schema hold a few bytes,
// and a mapping costs at least a page and a system call.
constexpr size_t kMapFrom = 1u << 20;
}  // namespace

ValueBuffer::~ValueBuffer() {
  if (mapped_) {
    ::munmap(data_, capacity_);
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
  p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  // Huge pages where the system allows them on request: a 2 MiB page is one fault and one
  // TLB entry where 4 KiB pages are 512 (mremap keeps the advice as the mapping grows).
  (void)::madvise(p, capacity, MADV_HUGEPAGE);
#endif
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
