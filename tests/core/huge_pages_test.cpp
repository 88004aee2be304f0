// detail::advise_huge_pages and the fresh outputs that use it (generated_vector, fresh_tensor,
// conformal's fresh_intervals): on
// Linux, the kernel's record of each mapping (/proc/self/smaps, whose VmFlags carry "hg" for
// MADV_HUGEPAGE) shows the advice on the whole pages inside the range, on no page outside it, and
// on nothing below the threshold. Elsewhere the function must merely do nothing harmful.

#include <catch2/catch.hpp>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "tessera/conformal/detail/interval_writer.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/detail/generated_vector.hpp"
#include "tessera/core/detail/huge_pages.hpp"

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace {

using tessera::detail::advise_huge_pages;
using tessera::detail::huge_page_worthy_bytes;

#if defined(__linux__) && defined(MADV_HUGEPAGE)

// Whether the mapping holding `address` carries the huge-page advice; nothing when /proc gives
// no answer (a sandbox without it), which the tests then skip.
std::optional<bool> advised(const void* address) {
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return std::nullopt;
  const auto at = reinterpret_cast<std::uintptr_t>(address);
  bool inside = false;
  for (std::string line; std::getline(smaps, line);) {
    std::uintptr_t begin = 0, end = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> begin >> dash >> end && dash == '-') {  // a mapping's first line
      inside = begin <= at && at < end;
    } else if (inside && line.rfind("VmFlags:", 0) == 0) {
      return (line + " ").find(" hg ") != std::string::npos;
    }
  }
  return std::nullopt;
}

// Fresh anonymous memory of `bytes`, unmapped on destruction.
class fresh_mapping {
 public:
  explicit fresh_mapping(std::size_t bytes)
      : bytes_(bytes), data_(mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) {
    REQUIRE(data_ != MAP_FAILED);
  }
  fresh_mapping(const fresh_mapping&) = delete;
  fresh_mapping& operator=(const fresh_mapping&) = delete;
  ~fresh_mapping() { munmap(data_, bytes_); }
  char* data() const { return static_cast<char*>(data_); }

 private:
  std::size_t bytes_;
  void* data_;
};

const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));

TEST_CASE("advise_huge_pages marks the whole pages of a large range and no neighbour", "[core][huge_pages]") {
  const fresh_mapping memory(huge_page_worthy_bytes + 8 * page);
  REQUIRE(advised(memory.data()).has_value());
  REQUIRE_FALSE(*advised(memory.data()));
  // Of the mapping's pages 0 .. p - 1, from the middle of page 1 to the middle of page p - 2:
  // pages 2 .. p - 3 are wholly inside, pages 1 and p - 2 only in part.
  const std::size_t pages = huge_page_worthy_bytes / page + 8;
  char* const begin = memory.data() + page + page / 2;
  char* const end = memory.data() + (pages - 2) * page + page / 2;
  advise_huge_pages(begin, static_cast<std::size_t>(end - begin));
  CHECK(*advised(memory.data() + 2 * page));
  CHECK(*advised(memory.data() + (pages - 3) * page));
  CHECK_FALSE(*advised(memory.data()));
  CHECK_FALSE(*advised(memory.data() + page));                // holds `begin`
  CHECK_FALSE(*advised(memory.data() + (pages - 2) * page));  // holds `end`
  CHECK_FALSE(*advised(memory.data() + (pages - 1) * page));
}

TEST_CASE("advise_huge_pages leaves ranges below the threshold alone", "[core][huge_pages]") {
  const fresh_mapping memory(huge_page_worthy_bytes);
  REQUIRE(advised(memory.data()).has_value());
  advise_huge_pages(memory.data(), huge_page_worthy_bytes - 1);
  CHECK_FALSE(*advised(memory.data()));
  advise_huge_pages(memory.data(), huge_page_worthy_bytes);
  CHECK(*advised(memory.data()));
}

TEST_CASE("generated_vector advises its memory when it is large", "[core][huge_pages][generated_vector]") {
  const std::size_t n = huge_page_worthy_bytes / sizeof(double) + 1024;
  const std::vector<double> large = tessera::detail::generated_vector(n, [](std::size_t i) { return 0.5 * static_cast<double>(i); });
  REQUIRE(advised(large.data()).has_value());
  CHECK(*advised(large.data() + n / 2));
  CHECK(large[n - 1] == 0.5 * static_cast<double>(n - 1));
}

TEST_CASE("fresh_tensor has the shape asked for, in advised memory when large", "[core][huge_pages]") {
  auto large = tessera::detail::fresh_tensor<double, 2>({1024, huge_page_worthy_bytes / sizeof(double) / 1024 + 1});
  CHECK(large.shape()[0] == 1024);
  CHECK(large.size() * sizeof(double) > huge_page_worthy_bytes);
  REQUIRE(advised(large.data()).has_value());
  CHECK(*advised(large.data() + large.size() / 2));
  const auto small = tessera::detail::fresh_tensor<bool, 3>({2, 3, 4});
  CHECK(small.size() == 24);
}

TEST_CASE("conformal's fresh_intervals are advised when many, and left for their writer", "[core][huge_pages]") {
  const std::size_t n = huge_page_worthy_bytes / sizeof(tessera::conformal::interval<double>) + 1024;
  auto large = tessera::conformal::detail::fresh_intervals<double>(n);
  CHECK(large.size() == n);
  REQUIRE(advised(large.data()).has_value());
  CHECK(*advised(large.data() + n / 2));
}

#endif

TEST_CASE("advise_huge_pages accepts no memory", "[core][huge_pages]") {
  advise_huge_pages(nullptr, huge_page_worthy_bytes);
  advise_huge_pages(nullptr, 0);
  const std::vector<char> small(16);
  advise_huge_pages(small.data(), small.size());
  CHECK(small.size() == 16);
}

}  // namespace
