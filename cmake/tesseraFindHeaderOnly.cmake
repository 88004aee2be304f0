# tessera_find_header_only(<Package> TARGET <target> HEADER <header> [PATH_SUFFIXES <dir>...]
#                          [VERSION <min>] [EXTRA_HEADERS <header>...] [REQUIRED] [QUIET])
#
# Makes <target> available for a dependency that is used through its headers. The package's own
# CMake config is preferred (find_package(<Package> CONFIG)); where none exists (Debian ships none
# for some libraries, and a GPU machine may have bare headers only, e.g. the .devdeps bundle) the
# header is located with find_path and an INTERFACE IMPORTED target of the same name is made.
# EXTRA_HEADERS are further headers the fallback must find (their folders are added too). QUIET
# drops the status line (a consumer's find_package(tessera QUIET)). A target that already exists
# (a consumer's own, or one made by an earlier call) is used as it is. Where TESSERA_DEPS_PREFIX
# holds the header, the bundle is used and no config is searched.
include_guard(GLOBAL)

function(tessera_find_header_only package)
  cmake_parse_arguments(PARSE_ARGV 1 arg "REQUIRED;QUIET" "TARGET;HEADER;VERSION"
                        "PATH_SUFFIXES;EXTRA_HEADERS")
  if(TARGET ${arg_TARGET})
    return()
  endif()
  # A bundle named by TESSERA_DEPS_PREFIX wins over other installed configs: a GPU machine may
  # have its own, different versions of the same libraries.
  if(NOT (TESSERA_DEPS_PREFIX AND EXISTS "${TESSERA_DEPS_PREFIX}/include/${arg_HEADER}"))
    find_package(${package} ${arg_VERSION} CONFIG QUIET)
  endif()
  if(TARGET ${arg_TARGET})
    return()
  endif()
  set(dirs "")
  foreach(header IN ITEMS ${arg_HEADER} ${arg_EXTRA_HEADERS})
    string(MAKE_C_IDENTIFIER "TESSERA_INCLUDE_${header}" var)
    find_path(${var} NAMES ${header} PATH_SUFFIXES ${arg_PATH_SUFFIXES})
    if(NOT ${var})
      if(arg_REQUIRED)
        message(FATAL_ERROR "tessera: ${package} not found (looked for the header <${header}> and for "
                            "a ${package} CMake config). Install it (Debian: see scripts/setup) or "
                            "point CMAKE_PREFIX_PATH / TESSERA_DEPS_PREFIX at it.")
      endif()
      set(${package}_FOUND FALSE PARENT_SCOPE)
      return()
    endif()
    list(APPEND dirs "${${var}}")
  endforeach()
  list(REMOVE_DUPLICATES dirs)
  add_library(${arg_TARGET} INTERFACE IMPORTED GLOBAL)
  set_target_properties(${arg_TARGET} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${dirs}")
  set(${package}_FOUND TRUE PARENT_SCOPE)
  if(NOT arg_QUIET)
    message(STATUS "tessera: ${package} from its headers in ${dirs}")
  endif()
endfunction()
