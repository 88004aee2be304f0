# tessera, header-only, as a vcpkg overlay port that builds a checkout of tessera:
#
#   vcpkg install tessera --overlay-ports=<checkout>/ports     (classic mode)
#   "overlay-ports": ["<checkout>/ports"]  in vcpkg-configuration.json (manifest mode)
#
# The sources are the checkout that holds this port (ports/tessera/../..), or the folder named by
# the environment variable TESSERA_SOURCE_DIR when this port has been copied elsewhere (on Windows
# vcpkg clears the build environment: add TESSERA_SOURCE_DIR to VCPKG_KEEP_ENV_VARS). vcpkg does
# not hash sources outside the port, so after editing the checkout reinstall with binary caching
# off (--binarysource=clear). A published release replaces the block below with
# vcpkg_from_github(REPO tessera-ml/tessera REF "v${VERSION}" SHA512 <archive digest>), as
# docs/packaging.md shows.
set(VCPKG_BUILD_TYPE release)  # header-only: debug and release packages would be identical

if(DEFINED ENV{TESSERA_SOURCE_DIR})
  file(REAL_PATH "$ENV{TESSERA_SOURCE_DIR}" SOURCE_PATH)
else()
  file(REAL_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." SOURCE_PATH)
endif()
set(version_header "${SOURCE_PATH}/include/tessera/core/version.hpp")
if(NOT EXISTS "${version_header}")
  message(FATAL_ERROR "tessera: no tessera sources in ${SOURCE_PATH} (expected "
                      "include/tessera/core/version.hpp); set TESSERA_SOURCE_DIR to a checkout")
endif()
# The port's version (vcpkg.json) must be the one of the sources it packages.
file(STRINGS "${version_header}" version_line REGEX "version_string = ")
string(REGEX MATCH "[0-9]+\\.[0-9]+\\.[0-9]+" source_version "${version_line}")
if(NOT source_version STREQUAL VERSION)
  message(FATAL_ERROR "tessera: the sources in ${SOURCE_PATH} are version ${source_version}, "
                      "the port (ports/tessera/vcpkg.json) says ${VERSION}")
endif()

vcpkg_check_features(OUT_FEATURE_OPTIONS feature_options FEATURES openmp TESSERA_ENABLE_OPENMP)

# CUDA and MPI are off in the port's own build: nothing installed depends on them (tessera::cuda
# is defined by the package config in the consumer's build, where CUDA is enabled).
vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DTESSERA_BUILD_TESTS=OFF
        -DTESSERA_BUILD_BENCHMARKS=OFF
        -DTESSERA_BUILD_EXAMPLES=OFF
        -DTESSERA_ENABLE_CUDA=OFF
        -DTESSERA_ENABLE_MPI=OFF
        "-DTESSERA_INSTALL_CMAKEDIR=share/${PORT}"
        ${feature_options}
)
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH "share/${PORT}")

# share/doc/tessera holds only the license, which vcpkg installs as the copyright file.
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug" "${CURRENT_PACKAGES_DIR}/share/doc")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
