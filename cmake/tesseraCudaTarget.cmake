# tessera_define_cuda_target(): defines tessera::cuda, the usage requirements of the CUDA backends
# (the `.cuh` headers): tessera::tessera plus the CUDA runtime, cuBLAS, cuFFT and the nvcc flags
# the headers need. Used by tessera's own build and by tesseraConfig.cmake when the consumer has
# found CUDAToolkit.
include_guard(GLOBAL)

function(tessera_define_cuda_target)
  if(TARGET tessera::cuda OR NOT TARGET CUDA::cudart)
    return()
  endif()
  add_library(tessera::cuda INTERFACE IMPORTED GLOBAL)
  target_link_libraries(tessera::cuda INTERFACE tessera::tessera CUDA::cudart CUDA::cublas
                                                CUDA::cufft CUDA::curand)
  # C++20 is passed as a flag: CMake 3.25 knows no CUDA20 dialect for nvcc, so neither the
  # cuda_std_20 feature nor CMAKE_CUDA_STANDARD 20 works there. Relaxed constexpr lets device code
  # call the standard library's constexpr functions (std::bit_cast, std::array); 20012 is nvcc's
  # warning on Eigen's defaulted host/device members.
  target_compile_options(tessera::cuda INTERFACE
                         $<$<COMPILE_LANGUAGE:CUDA>:-std=c++20 --expt-relaxed-constexpr
                                                    -diag-suppress=20012>)
endfunction()
