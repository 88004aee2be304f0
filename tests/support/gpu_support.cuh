#pragma once
// Helpers the CUDA tests share.

#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <cstring>
#include <span>
#include <vector>

namespace tessera::test {

/// A span over a device vector's memory.
template <class T>
std::span<T> device_span(thrust::device_vector<T>& v) {
  return {thrust::raw_pointer_cast(v.data()), v.size()};
}

/// Whether host and device hold the same bytes.
template <class T>
bool same_bits(const std::vector<T>& host, const thrust::device_vector<T>& device) {
  const thrust::host_vector<T> copy = device;
  return host.size() == copy.size() && std::memcmp(host.data(), copy.data(), host.size() * sizeof(T)) == 0;
}

}  // namespace tessera::test
