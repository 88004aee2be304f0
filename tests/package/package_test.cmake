# The steps of the package tests, run with `cmake -D STEP=<step> ... -P package_test.cmake` by the
# ctest tests that tests/package/CMakeLists.txt declares (it passes every variable used here).
#
#   STEP=install         configures the source tree with tests, benchmarks and examples off,
#                        installs it into a fresh prefix, then moves the prefix (the package must
#                        be relocatable) and checks what was installed.
#   STEP=consumer        configures, builds and runs consumer/ against that prefix alone (plus
#                        the dependencies' bundle where tessera was configured with one); with
#                        CONSUMER_CUDA=ON it builds the tessera::cuda program instead.
#   STEP=config_version  checks the version file: the installed major version is accepted, any
#                        other major version and a newer minor version are rejected.
#
# Nothing here reads the network: the dependencies are the ones tessera's own build found.
cmake_minimum_required(VERSION 3.23)

set(prefix "${WORK_DIR}/prefix")
set(staging "${WORK_DIR}/staging")
set(config_dir "${prefix}/share/tessera/cmake")
string(REPLACE "|" ";" find_path "${FIND_PATH}")  # the search path of tessera's own build

# run_step(<what> <command>...): runs the command, fails the test with its output unless it exits
# with 0; the output is left in step_output.
function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test: ${what} failed (exit ${rc}):\n${out}")
  endif()
  message(STATUS "package test: ${what}: done")
  set(step_output "${out}" PARENT_SCOPE)
endfunction()

# The generator and compiler of tessera's own build, for every configure below.
set(generator_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX_COMPILER}")
if(MAKE_PROGRAM)
  list(APPEND generator_args "-DCMAKE_MAKE_PROGRAM=${MAKE_PROGRAM}")
endif()
if(GENERATOR_PLATFORM)
  list(APPEND generator_args -A "${GENERATOR_PLATFORM}")
endif()
if(GENERATOR_TOOLSET)
  list(APPEND generator_args -T "${GENERATOR_TOOLSET}")
endif()

# The consumer sees the installed prefix and, where tessera's build used one, the dependencies'
# bundle (it holds Eigen and the rest, not tessera); nothing else from the environment and no
# package registry. The search path goes through the environment: a list in a -D argument would
# be split on its way through run_step.
function(use_clean_find_environment)
  foreach(variable IN ITEMS CMAKE_PREFIX_PATH CMAKE_INCLUDE_PATH CMAKE_LIBRARY_PATH tessera_DIR
                            tessera_ROOT TESSERA_ROOT)
    unset(ENV{${variable}})
  endforeach()
  set(search "${prefix}")
  if(DEPS_PREFIX)
    list(APPEND search "${DEPS_PREFIX}")
  endif()
  cmake_path(CONVERT "${search}" TO_NATIVE_PATH_LIST native)
  set(ENV{CMAKE_PREFIX_PATH} "${native}")
endfunction()
set(clean_find_args -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF
                    -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)

if(STEP STREQUAL "install")
  file(REMOVE_RECURSE "${WORK_DIR}")
  set(build "${WORK_DIR}/tessera-build")
  # The dependencies are searched where tessera's own build searched them.
  if(find_path)
    cmake_path(CONVERT "${find_path}" TO_NATIVE_PATH_LIST native)
    if(DEFINED ENV{CMAKE_PREFIX_PATH})
      cmake_path(CONVERT "$ENV{CMAKE_PREFIX_PATH}" TO_CMAKE_PATH_LIST inherited)
      cmake_path(CONVERT "${find_path};${inherited}" TO_NATIVE_PATH_LIST native)
    endif()
    set(ENV{CMAKE_PREFIX_PATH} "${native}")
  endif()
  # CUDA and MPI change nothing that is installed (tessera::cuda is defined by the package config
  # in the consumer's build); OpenMP does, so the value of tessera's own build is kept.
  run_step("configure tessera with tests, benchmarks and examples off"
           ${CMAKE_COMMAND} -S "${SOURCE_DIR}" -B "${build}" ${generator_args}
           -DCMAKE_BUILD_TYPE=Release "-DCMAKE_INSTALL_PREFIX=${staging}"
           -DTESSERA_BUILD_TESTS=OFF -DTESSERA_BUILD_BENCHMARKS=OFF -DTESSERA_BUILD_EXAMPLES=OFF
           -DTESSERA_ENABLE_CUDA=OFF -DTESSERA_ENABLE_MPI=OFF "-DTESSERA_ENABLE_OPENMP=${OPENMP}"
           "-DTESSERA_DEPS_PREFIX=${DEPS_PREFIX}")
  run_step("install tessera" ${CMAKE_COMMAND} --install "${build}" --config Release)
  file(RENAME "${staging}" "${prefix}")

  set(missing "")
  foreach(file IN ITEMS include/tessera/core.hpp include/tessera/core/version.hpp
                        share/tessera/cmake/tesseraConfig.cmake
                        share/tessera/cmake/tesseraConfigVersion.cmake
                        share/tessera/cmake/tesseraTargets.cmake share/doc/tessera/LICENSE)
    if(NOT EXISTS "${prefix}/${file}")
      list(APPEND missing "${file}")
    endif()
  endforeach()
  file(GLOB_RECURSE source_headers RELATIVE "${SOURCE_DIR}/include" "${SOURCE_DIR}/include/*")
  foreach(header IN LISTS source_headers)
    if(NOT EXISTS "${prefix}/include/${header}")
      list(APPEND missing "include/${header}")
    endif()
  endforeach()
  if(missing)
    message(FATAL_ERROR "package test: not installed: ${missing}")
  endif()

  # Relocatable: no installed CMake file names the prefix it was installed to. Self-contained: no
  # test or tool library (Catch2, Google Benchmark, CLI11, nlohmann/json) is asked for.
  file(GLOB cmake_files "${config_dir}/*.cmake")
  foreach(file IN LISTS cmake_files)
    file(READ "${file}" text)
    string(FIND "${text}" "${staging}" at)
    if(NOT at EQUAL -1)
      message(FATAL_ERROR "package test: ${file} names the install prefix ${staging}")
    endif()
    if(text MATCHES "(Catch2|benchmark::|CLI11|nlohmann)")
      message(FATAL_ERROR "package test: ${file} refers to ${CMAKE_MATCH_1}, "
                          "a test/tool dependency")
    endif()
  endforeach()
  message(STATUS "package test: tessera ${VERSION} installed and moved to ${prefix}")

elseif(STEP STREQUAL "consumer")
  if(NOT EXISTS "${config_dir}/tesseraConfig.cmake")
    message(FATAL_ERROR "package test: no installed tessera at ${prefix} (run package.install)")
  endif()
  use_clean_find_environment()
  set(consumer_args "")
  set(target app)
  set(build "${WORK_DIR}/consumer-build")
  if(CONSUMER_CUDA)
    set(target app_cuda)
    set(build "${WORK_DIR}/consumer-cuda-build")
    set(consumer_args -DCONSUMER_CUDA=ON "-DCMAKE_CUDA_COMPILER=${CUDA_COMPILER}")
    # The architectures of tessera's build ('|'-joined), through CUDAARCHS: a list in a -D
    # argument would be split on its way through run_step.
    string(REPLACE "|" ";" cuda_architectures "${CUDA_ARCHITECTURES}")
    set(ENV{CUDAARCHS} "${cuda_architectures}")
  endif()
  file(REMOVE_RECURSE "${build}")
  run_step("configure the consumer project"
           ${CMAKE_COMMAND} -S "${CONSUMER_DIR}" -B "${build}" ${generator_args}
           -DCMAKE_BUILD_TYPE=Release ${clean_find_args} ${consumer_args}
           "-DCMAKE_RUNTIME_OUTPUT_DIRECTORY=${build}/bin"
           "-DCMAKE_RUNTIME_OUTPUT_DIRECTORY_RELEASE=${build}/bin")
  # The package found must be the one just installed, with the version of this source tree.
  if(NOT step_output MATCHES "consumer: tessera ([^ ]*) from ([^\n]*)")
    message(FATAL_ERROR "package test: the consumer did not report the package it found:\n"
                        "${step_output}")
  endif()
  set(found_version "${CMAKE_MATCH_1}")
  file(REAL_PATH "${CMAKE_MATCH_2}" found_dir)
  file(REAL_PATH "${config_dir}" expected_dir)
  if(NOT found_version STREQUAL VERSION OR NOT found_dir STREQUAL expected_dir)
    message(FATAL_ERROR "package test: the consumer found tessera ${found_version} in "
                        "${found_dir}; expected ${VERSION} in ${expected_dir}")
  endif()
  run_step("build ${target}"
           ${CMAKE_COMMAND} --build "${build}" --config Release --target ${target})
  execute_process(COMMAND "${build}/bin/${target}" ${VERSION} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message(STATUS "package test: ${target} said:\n${out}")
  if(CONSUMER_CUDA AND rc EQUAL 77)
    # ctest reports this line as "Skipped" (SKIP_REGULAR_EXPRESSION): built, but not run.
    message(STATUS "package test: built against tessera::cuda; no CUDA device to run it")
  elseif(NOT rc EQUAL 0)
    message(FATAL_ERROR "package test: ${target} failed (exit ${rc})")
  endif()

elseif(STEP STREQUAL "config_version")
  if(NOT EXISTS "${config_dir}/tesseraConfigVersion.cmake")
    message(FATAL_ERROR "package test: no installed tessera at ${prefix} (run package.install)")
  endif()
  use_clean_find_environment()
  string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" _ "${VERSION}")
  set(major ${CMAKE_MATCH_1})
  set(minor ${CMAKE_MATCH_2})
  math(EXPR next_major "${major} + 1")
  math(EXPR next_minor "${minor} + 1")
  # SameMajorVersion: a request is met by the same major version at least as new as asked.
  set(accepted "${major}" "${major}.0" "${major}.${minor}" "${VERSION}")
  set(rejected "${next_major}" "${next_major}.0" "${major}.${next_minor}")
  if(major GREATER 0)
    math(EXPR previous_major "${major} - 1")
    list(APPEND rejected "${previous_major}" "${previous_major}.0")
  endif()
  set(probe "${WORK_DIR}/version-probe")
  file(REMOVE_RECURSE "${probe}")
  string(JOIN " " requests ${accepted} ${rejected})
  file(WRITE "${probe}/src/CMakeLists.txt" "
cmake_minimum_required(VERSION 3.23)
project(version_probe LANGUAGES CXX)
function(probe request)
  unset(tessera_DIR CACHE)
  find_package(tessera \${request} CONFIG QUIET)
  if(tessera_FOUND)
    message(STATUS \"probe \${request}: accepted \${tessera_VERSION}\")
  else()
    message(STATUS \"probe \${request}: rejected\")
  endif()
endfunction()
foreach(request IN ITEMS ${requests})
  probe(\${request})
endforeach()
")
  run_step("configure the version probe"
           ${CMAKE_COMMAND} -S "${probe}/src" -B "${probe}/build" ${generator_args}
           ${clean_find_args})
  set(wrong "")
  foreach(request IN LISTS accepted)
    string(FIND "${step_output}" "probe ${request}: accepted ${VERSION}\n" at)
    if(at EQUAL -1)
      list(APPEND wrong "find_package(tessera ${request}) was not accepted")
    endif()
  endforeach()
  foreach(request IN LISTS rejected)
    string(FIND "${step_output}" "probe ${request}: rejected\n" at)
    if(at EQUAL -1)
      list(APPEND wrong "find_package(tessera ${request}) was not rejected")
    endif()
  endforeach()
  if(wrong)
    string(JOIN "\n  " wrong ${wrong})
    message(FATAL_ERROR "package test: installed version ${VERSION}:\n  ${wrong}\n${step_output}")
  endif()
  message(STATUS "package test: version ${VERSION}: accepted ${accepted}; rejected ${rejected}")

  # While the major version is 0 no older major exists, so AnyNewerVersion would pass the probes
  # above too. The installed file's rule is therefore also evaluated as if it were a release 2.3.4
  # (every quoted "<version>" in it replaced), with find_package's variables set by hand.
  file(READ "${config_dir}/tesseraConfigVersion.cmake" rule)
  string(REPLACE "\"${VERSION}\"" "\"2.3.4\"" moved "${rule}")
  if(moved STREQUAL rule)
    message(FATAL_ERROR "package test: tesseraConfigVersion.cmake names no version \"${VERSION}\"")
  endif()
  file(WRITE "${probe}/release-version.cmake" "${moved}")
  function(compatible_with request result)
    string(REPLACE "." ";" parts "${request}")
    list(LENGTH parts count)
    list(APPEND parts 0 0 0)
    list(GET parts 0 PACKAGE_FIND_VERSION_MAJOR)
    list(GET parts 1 PACKAGE_FIND_VERSION_MINOR)
    list(GET parts 2 PACKAGE_FIND_VERSION_PATCH)
    set(PACKAGE_FIND_VERSION "${request}")
    set(PACKAGE_FIND_VERSION_COUNT ${count})
    set(PACKAGE_FIND_VERSION_TWEAK 0)
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
    include("${probe}/release-version.cmake")
    set(${result} ${PACKAGE_VERSION_COMPATIBLE} PARENT_SCOPE)
  endfunction()
  set(release_accepted 2 2.0 2.3 2.3.4)
  set(release_rejected 1 1.9 0.1 3 3.0 2.4 2.3.5)
  foreach(request IN LISTS release_accepted release_rejected)
    compatible_with(${request} compatible)
    if(request IN_LIST release_accepted)
      set(expected TRUE)
    else()
      set(expected FALSE)
    endif()
    if(NOT compatible STREQUAL expected)
      message(FATAL_ERROR "package test: as release 2.3.4 the version file answers "
                          "compatible=${compatible} to a request for ${request}; "
                          "expected ${expected} (SameMajorVersion)")
    endif()
  endforeach()
  message(STATUS "package test: as release 2.3.4: accepted ${release_accepted}; "
                 "rejected ${release_rejected}")

else()
  message(FATAL_ERROR "package test: unknown STEP '${STEP}'")
endif()
