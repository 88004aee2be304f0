// The README's example: integrate Keister's function in 3 dimensions to a guaranteed 1e-4.
#include <cstdio>
#include <tessera/qmc.hpp>

int main() {
  using namespace tessera::qmc;
  const keister<double> f(3);  // a test integrand, exact value known
  const cubature_result r = integrate_net_g(tessera::exec::host, f, sobol(3), {{1e-4}});
  std::printf("%.6f +- %.1e with %llu points (exact %.6f)\n", r.estimate, r.error_bound,
              static_cast<unsigned long long>(r.n), f.exact_value());
  return r.converged ? 0 : 1;
}
