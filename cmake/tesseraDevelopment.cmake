# What tessera's own tests, benchmarks and tools need beyond the library: the test, benchmark and
# command-line libraries, warning flags, and helpers that declare a test or a benchmark.
include_guard(GLOBAL)

if(TESSERA_BUILD_TESTS)
  # The tests are written for Catch2 v2 (catch2/catch.hpp); a v3 config is passed over.
  tessera_find_header_only(Catch2 TARGET Catch2::Catch2 HEADER catch2/catch.hpp VERSION 2 REQUIRED)
endif()
if(TESSERA_BUILD_EXAMPLES)
  tessera_find_header_only(CLI11 TARGET CLI11::CLI11 HEADER CLI/CLI.hpp REQUIRED)
  tessera_find_header_only(nlohmann_json TARGET nlohmann_json::nlohmann_json
                           HEADER nlohmann/json.hpp REQUIRED)
endif()
if(TESSERA_BUILD_BENCHMARKS)
  file(GLOB _tessera_bundled_benchmark "${TESSERA_DEPS_PREFIX}/lib/libbenchmark.*")
  if(NOT (TESSERA_DEPS_PREFIX AND _tessera_bundled_benchmark))
    find_package(benchmark CONFIG QUIET)
  endif()
  if(NOT TARGET benchmark::benchmark)  # a bare bundle: the library and its headers
    find_library(TESSERA_BENCHMARK_LIBRARY NAMES benchmark REQUIRED)
    find_path(TESSERA_BENCHMARK_INCLUDE_DIR NAMES benchmark/benchmark.h REQUIRED)
    find_package(Threads REQUIRED)
    add_library(benchmark::benchmark STATIC IMPORTED GLOBAL)
    set_target_properties(benchmark::benchmark PROPERTIES
                          IMPORTED_LOCATION "${TESSERA_BENCHMARK_LIBRARY}"
                          INTERFACE_INCLUDE_DIRECTORIES "${TESSERA_BENCHMARK_INCLUDE_DIR}"
                          INTERFACE_LINK_LIBRARIES Threads::Threads)
  endif()
endif()

# Warnings for tessera's own sources (dependencies' headers are SYSTEM and stay quiet).
add_library(tessera_warnings INTERFACE)
target_compile_options(tessera_warnings INTERFACE
                       $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow -Wconversion
                                                 -Wno-sign-conversion>
                       # g++ 12 at -O1 reports Eigen's copies of dynamic vectors as maybe
                       # uninitialized (inside Eigen, attributed to the caller): a false positive.
                       $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wno-maybe-uninitialized>
                       $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
if(TESSERA_WARNINGS_AS_ERRORS)
  target_compile_options(tessera_warnings INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>
                                                    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings>)
endif()

# tessera_link_library(<target>): links tessera (and tessera::cuda when a source is
# CUDA) and the warning flags.
function(tessera_link_library target)
  get_target_property(sources ${target} SOURCES)
  list(FILTER sources INCLUDE REGEX "\\.cu$")
  if(sources)
    target_link_libraries(${target} PRIVATE tessera::cuda tessera_warnings)
  else()
    target_link_libraries(${target} PRIVATE tessera::tessera tessera_warnings)
  endif()
endfunction()
