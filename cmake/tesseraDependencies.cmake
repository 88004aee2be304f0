# The libraries tessera's headers include, found the same way by tessera's own build and by
# tesseraConfig.cmake in a consumer's build. Each ends up as the target its upstream defines.
include_guard(GLOBAL)
include(${CMAKE_CURRENT_LIST_DIR}/tesseraFindHeaderOnly.cmake)
# The folder of tessera's find modules (FindRandom123, FindLBFGSpp). A global property, because
# the macro below runs in its caller's scope (where CMAKE_CURRENT_LIST_DIR is the caller's) and
# the include guard skips this file, and any variable it would set, in a second directory.
set_property(GLOBAL PROPERTY TESSERA_FIND_MODULE_DIR "${CMAKE_CURRENT_LIST_DIR}")

# tessera_find_dependencies([REQUIRED] [QUIET]): sets tessera_DEPENDENCIES_FOUND, and
# tessera_MISSING_DEPENDENCIES to the targets that are still missing. A target that already
# exists (e.g. a consumer's own Random123::Random123) is used as it is.
macro(tessera_find_dependencies)
  set(_tessera_find_args ${ARGN})
  tessera_find_header_only(Eigen3 TARGET Eigen3::Eigen HEADER Eigen/Core VERSION 3.4
                           PATH_SUFFIXES eigen3 ${_tessera_find_args})
  tessera_find_header_only(xtensor TARGET xtensor HEADER xtensor/xarray.hpp
                           EXTRA_HEADERS xtl/xtl_config.hpp ${_tessera_find_args})
  tessera_find_header_only(Boost TARGET Boost::headers HEADER boost/math/special_functions.hpp
                           VERSION 1.74 ${_tessera_find_args})
  # tessera's find modules are put first on the module path for these two lookups only, so that
  # a consumer's CMAKE_MODULE_PATH is left as it was.
  get_property(_tessera_find_module_dir GLOBAL PROPERTY TESSERA_FIND_MODULE_DIR)
  set(_tessera_saved_module_path "${CMAKE_MODULE_PATH}")
  list(PREPEND CMAKE_MODULE_PATH "${_tessera_find_module_dir}")
  if(NOT TARGET Random123::Random123)
    find_package(Random123 MODULE ${_tessera_find_args})
  endif()
  if(NOT TARGET LBFGSpp::LBFGSpp)
    find_package(LBFGSpp MODULE ${_tessera_find_args})
  endif()
  set(CMAKE_MODULE_PATH "${_tessera_saved_module_path}")
  set(tessera_MISSING_DEPENDENCIES "")
  foreach(_tessera_target IN ITEMS Eigen3::Eigen xtensor Boost::headers Random123::Random123
                                   LBFGSpp::LBFGSpp)
    if(NOT TARGET ${_tessera_target})
      list(APPEND tessera_MISSING_DEPENDENCIES ${_tessera_target})
    endif()
  endforeach()
  if(tessera_MISSING_DEPENDENCIES)
    set(tessera_DEPENDENCIES_FOUND FALSE)
  else()
    set(tessera_DEPENDENCIES_FOUND TRUE)
  endif()
endmacro()
