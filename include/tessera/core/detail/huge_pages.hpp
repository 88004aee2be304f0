#pragma once
// Large fresh outputs on transparent huge pages.
//
// A function that returns a new array of tens of megabytes (a prediction-set mask of 50 000 x
// 1000 labels, 10^7 intervals) writes into memory the kernel has not yet mapped: each 4 KiB page
// costs a fault on first write, and on the virtual machines where this library is measured a fault
// costs 1.2-1.8 us, so a 50 MB mask paid 15-20 ms of faults for 20-50 ms of work. NumPy asks Linux
// for huge pages on every array of 4 MiB or more (madvise MADV_HUGEPAGE on allocation), so the
// Python libraries we are compared with already write their results into 2 MiB pages: one fault
// per 512 small ones (a 50 MB fresh buffer written in 2.5-2.8 ms against 15 ms, AMD EPYC, THP in
// "madvise" mode). advise_huge_pages gives our fresh outputs the same treatment. Where the kernel
// has no free huge page it may compact memory on the first such fault (0.1-0.25 s once for 50-130
// MB, in a process started on a fragmented machine), or fall back to small pages; both are the
// kernel's policy, which the administrator sets, as for NumPy.

#include <cstddef>
#include <cstdint>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace tessera::detail {

/// The size from which a fresh allocation is worth huge pages: NumPy's threshold, 4 MiB.
inline constexpr std::size_t huge_page_worthy_bytes = std::size_t{1} << 22;

/// Advises the kernel to back the whole pages of [data, data + bytes) with transparent huge pages.
/// Call it on fresh memory before its first write: pages already written keep their size until
/// the kernel's background collapse. Linux only (madvise MADV_HUGEPAGE); elsewhere, and below
/// huge_page_worthy_bytes, it does nothing. It is advice: a refusal (a kernel without transparent
/// huge pages, say) is ignored. O(1) here; the kernel's work is done at the faults. Throws nothing.
inline void advise_huge_pages([[maybe_unused]] const void* data, [[maybe_unused]] std::size_t bytes) noexcept {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  if (data == nullptr || bytes < huge_page_worthy_bytes) return;
  static const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = reinterpret_cast<std::uintptr_t>(data), end = begin + bytes;
  // madvise takes whole pages: those wholly inside, so that no neighbour's flags change.
  const std::uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#endif
}

}  // namespace tessera::detail
