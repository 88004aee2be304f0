#pragma once
// The exceptions tessera throws at its public boundary.
//
// Every message names the function, the parameter, the offending value and what was accepted,
// e.g. "tessera::sobol: dim = 30000; expected 1 <= dim <= 21201".

#include <stdexcept>

namespace tessera {

/// A caller passed an argument outside the documented domain of the function.
class invalid_argument : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

/// The arguments were valid but the computation met a value it cannot work with (a non-finite
/// integrand value, a singular system, a loss that is NaN).
class domain_error : public std::domain_error {
 public:
  using std::domain_error::domain_error;
};

}  // namespace tessera
