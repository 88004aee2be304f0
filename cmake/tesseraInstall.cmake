# Installs the headers and a relocatable CMake package: tessera::tessera via
# find_package(tessera CONFIG), with a SameMajorVersion version file.
include(CMakePackageConfigHelpers)

set(TESSERA_INSTALL_CMAKEDIR ${CMAKE_INSTALL_DATADIR}/tessera/cmake CACHE STRING
    "Where tesseraConfig.cmake is installed, relative to the prefix")

install(DIRECTORY include/tessera TYPE INCLUDE)
install(TARGETS tessera EXPORT tesseraTargets)
install(EXPORT tesseraTargets NAMESPACE tessera:: DESTINATION ${TESSERA_INSTALL_CMAKEDIR})

configure_package_config_file(cmake/tesseraConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/tesseraConfig.cmake
                              INSTALL_DESTINATION ${TESSERA_INSTALL_CMAKEDIR})
# A header-only library is the same for every architecture.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/tesseraConfigVersion.cmake
                                 COMPATIBILITY SameMajorVersion ARCH_INDEPENDENT)
install(FILES ${PROJECT_BINARY_DIR}/tesseraConfig.cmake
              ${PROJECT_BINARY_DIR}/tesseraConfigVersion.cmake
              cmake/tesseraDependencies.cmake cmake/tesseraFindHeaderOnly.cmake
              cmake/tesseraCudaTarget.cmake cmake/tesseraMpiTarget.cmake
              cmake/FindRandom123.cmake cmake/FindLBFGSpp.cmake
        DESTINATION ${TESSERA_INSTALL_CMAKEDIR})
install(FILES LICENSE DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/tessera)
