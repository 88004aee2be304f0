# Find module for LBFGSpp (Yixuan Qiu), header-only; Debian ships no CMake config for it.
# Defines LBFGSpp_FOUND, LBFGSpp_INCLUDE_DIR and the target LBFGSpp::LBFGSpp.
find_path(LBFGSpp_INCLUDE_DIR NAMES LBFGS.h LBFGSB.h)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LBFGSpp REQUIRED_VARS LBFGSpp_INCLUDE_DIR)
if(LBFGSpp_FOUND AND NOT TARGET LBFGSpp::LBFGSpp)
  add_library(LBFGSpp::LBFGSpp INTERFACE IMPORTED GLOBAL)
  set_target_properties(LBFGSpp::LBFGSpp PROPERTIES INTERFACE_INCLUDE_DIRECTORIES
                                                    "${LBFGSpp_INCLUDE_DIR}")
endif()
mark_as_advanced(LBFGSpp_INCLUDE_DIR)
