// Huge pages for malloc's large blocks. A load writes hundreds of MB into fresh buffers (row
// groups, compressed chunks, decoded columns); with 4 KiB pages each first touch is a page
// fault: 35 k of them for a 207 MB load, about 9 % of its CPU time. glibc's malloc asks for
// transparent huge pages (one fault per 2 MiB) when its `glibc.malloc.hugetlb` tunable is 1,
// but tunables are read only when a process starts. So the binary restarts itself once, in the
// same process (same PID, file descriptors and arguments), with the tunable added. The restart
// costs ~12-16 ms (the dynamic loader runs twice), so commands that move no data skip it. The
// restart also sets `glibc.malloc.arena_max=1` (unless the environment sets it): with an arena
// per thread, the memory of the threads other than the first was faulted in 4 KiB at a time
// (page faults measured, see huge_pages.cc), with one arena it gets huge pages too.
#pragma once

namespace fhirlake::cli {

// Re-executes the running binary with `glibc.malloc.hugetlb=1` (and `glibc.malloc.arena_max=1`
// when the environment does not set it) added to GLIBC_TUNABLES; returns only when it does not:
// the command moves no data (`status`, `keygen`, or an option first),
// the environment already sets that tunable (`glibc.malloc.hugetlb=0` opts out), the system
// has no transparent huge pages, the binary was started through the dynamic loader, the C
// library is not glibc 2.35 or later, a sanitizer's allocator replaces malloc, or the exec fails.
void RestartWithHugePageMalloc(char** argv);

}  // namespace fhirlake::cli
