// `tessera zo train --distributed` in a build without MPI.
#include "zo_training.hpp"

namespace tessera::cli {

void run_zo_distributed(const context&, const zo_train_options&) {
  throw usage_error("--distributed: this tessera was built without MPI (configure with TESSERA_ENABLE_MPI=ON)");
}

}  // namespace tessera::cli
