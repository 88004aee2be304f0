// Counter-based random streams: every draw is a pure function of (seed, ids, index).
//
// An evolution strategy needs the noise of member i of generation t of layer l twice: once to
// evaluate the member and once, later, to apply the update. Instead of storing it, draw it again
// from the stream (seed, l, t, i) — on any thread, process or GPU, in any order.
#include <cstdio>
#include <span>
#include <tessera/core.hpp>
#include <vector>

int main() {
  const std::uint64_t seed = 2026;
  const std::uint32_t layer = 3, generation = 17, member = 42;

  // Evaluation time: the perturbation of one member, 8 weights long.
  const tessera::random_stream noise(seed, layer, generation, member);
  std::vector<float> perturbation(8);
  tessera::fill_normal(tessera::exec::host, noise, std::span<float>(perturbation));

  // Update time, elsewhere: weight 5 of the same member, recomputed from its index alone.
  const float again = tessera::normal<float>(tessera::random_stream(seed, layer, generation, member), 5);

  std::printf("perturbation of member %u:", member);
  for (float z : perturbation) std::printf(" %+.4f", z);
  std::printf("\nweight 5 redrawn alone: %+.4f (%s)\n", again,
              again == perturbation[5] ? "identical bits" : "MISMATCH");

  // Another member's noise is an independent stream.
  const float other = tessera::normal<float>(tessera::random_stream(seed, layer, generation, member + 1), 5);
  std::printf("weight 5 of member %u: %+.4f\n", member + 1, other);
  return again == perturbation[5] ? 0 : 1;
}
