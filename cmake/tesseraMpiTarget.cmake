# tessera_define_mpi_target(): defines tessera::mpi, the usage requirements of
# <tessera/core/mpi_communicator.hpp>: tessera::tessera plus MPI's C library (MPI::MPI_CXX; the
# headers call only MPI's C API). Used by tessera's own build and by tesseraConfig.cmake when the
# consumer asks for the `mpi` component or has found MPI itself.
include_guard(GLOBAL)

function(tessera_define_mpi_target)
  if(TARGET tessera::mpi OR NOT TARGET MPI::MPI_CXX)
    return()
  endif()
  add_library(tessera::mpi INTERFACE IMPORTED GLOBAL)
  target_link_libraries(tessera::mpi INTERFACE tessera::tessera MPI::MPI_CXX)
endfunction()
