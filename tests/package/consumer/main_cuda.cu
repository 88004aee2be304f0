// A user's CUDA program built against an installed tessera through tessera::cuda: device draws
// must equal the host's bit for bit. Exit status 0 when they do, 1 when not, 77 when the machine
// has no CUDA device (the build itself is then the check).
#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <cstdio>
#include <span>
#include <tessera/core.cuh>

int main() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess || devices == 0) {
    std::puts("consumer_cuda: no CUDA device: skipped");
    return 77;
  }
  const tessera::random_stream stream(42, 1, 2, 3);
  constexpr std::size_t n = 1000;
  constexpr std::uint64_t first = 5;
  double* device = nullptr;
  tessera::check_cuda(cudaMalloc(&device, n * sizeof(double)), "consumer_cuda: cudaMalloc");
  tessera::fill_uniform(tessera::exec::cuda{}, stream, std::span<double>(device, n), first);
  std::array<double, n> host{};
  tessera::check_cuda(cudaMemcpy(host.data(), device, n * sizeof(double), cudaMemcpyDeviceToHost),
                      "consumer_cuda: cudaMemcpy");
  tessera::check_cuda(cudaFree(device), "consumer_cuda: cudaFree");
  for (std::uint64_t j = 0; j < n; ++j) {
    if (host[j] != tessera::uniform<double>(stream, first + j)) {
      std::fprintf(stderr, "consumer_cuda: FAILED: device draw %llu differs from the host's\n",
                   static_cast<unsigned long long>(first + j));
      return 1;
    }
  }
  std::puts("consumer_cuda: device draws equal the host's");
  return 0;
}
