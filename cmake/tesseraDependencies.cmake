# The libraries tessera's headers include, found the same way by tessera's own build and by
# tesseraConfig.cmake in a consumer's build. Each ends up as the target its upstream defines.
include_guard(GLOBAL)
include(${CMAKE_CURRENT_LIST_DIR}/tesseraFindHeaderOnly.cmake)
list(PREPEND CMAKE_MODULE_PATH ${CMAKE_CURRENT_LIST_DIR})

# tessera_find_dependencies([REQUIRED]): sets tessera_DEPENDENCIES_FOUND.
macro(tessera_find_dependencies)
  set(_tessera_required ${ARGN})
  tessera_find_header_only(Eigen3 TARGET Eigen3::Eigen HEADER Eigen/Core VERSION 3.4
                           PATH_SUFFIXES eigen3 ${_tessera_required})
  tessera_find_header_only(xtensor TARGET xtensor HEADER xtensor/xarray.hpp
                           EXTRA_HEADERS xtl/xtl_config.hpp ${_tessera_required})
  tessera_find_header_only(Boost TARGET Boost::headers HEADER boost/math/special_functions.hpp
                           VERSION 1.74 ${_tessera_required})
  find_package(Random123 ${_tessera_required})
  find_package(LBFGSpp ${_tessera_required})
  set(tessera_DEPENDENCIES_FOUND TRUE)
  foreach(_tessera_target IN ITEMS Eigen3::Eigen xtensor Boost::headers Random123::Random123
                                   LBFGSpp::LBFGSpp)
    if(NOT TARGET ${_tessera_target})
      set(tessera_DEPENDENCIES_FOUND FALSE)
    endif()
  endforeach()
endmacro()
