#pragma once
// The CUDA backend of randomized_smoothing.hpp: the Monte Carlo estimates of the smoothed scores
// of n points (RSCP, Gendler et al. 2022; RSCP+, Yan, Romano, Weng 2024) for a score function
// that runs on the device, such as a linear or probit classifier whose weights are in device
// memory.
//
// The results are the host's smooth_score_table, bit for bit:
//  * perturbation s of point i is x_i + sigma z with z_c = normal<T>(noise, s d + c), noise =
//    random_stream(seed, first_point_id + i, role): the same streams and draw indices, and the
//    product and sum rounded as the host rounds them (no fused multiply-add);
//  * the score function is called once per perturbation on one thread; for the host's values it
//    must itself compute the same bits on both sides (IEEE operations only, fma written out);
//  * each label's mean and sample variance are Welford's recurrence over the samples in order
//    0..N-1, in double, one thread per (point, label): the host's operations in the host's
//    order. The parallelism is over points and labels; no floating-point atomics anywhere.
//
// Scratch memory: each (point, perturbation) pair needs d + K values for the perturbed point and
// its scores; pairs are processed in launches of at most `scratch_bytes` of them (256 MiB by
// default), sample-major within a point, so any n and N fit.
//
// With the tables back on the host, robust_conformal_classifier::calibrate(table, labels) and
// ::predict(table) give the RSCP / RSCP+ threshold and sets.

#include <cuda_runtime_api.h>

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "tessera/conformal/cuda/detail/stream_memory.cuh"
#include "tessera/conformal/randomized_smoothing.hpp"
#include "tessera/core/concepts.hpp"
#include "tessera/core/detail/fresh_tensor.hpp"
#include "tessera/core/errors.hpp"
#include "tessera/core/cuda/check.cuh"
#include "tessera/core/exec.hpp"
#include "tessera/core/matrix_view.hpp"
#include "tessera/core/random.hpp"
#include "tessera/core/validate.hpp"

namespace tessera::conformal {

/// A score function the device calls: f(point, d, scores) writes the K scores S(point, 0..K-1),
/// each in [0, 1], for a perturbed point of d coordinates, from a __device__ operator() const.
/// It is copied into the kernels by value, so it holds device pointers (weights), not containers.
template <class F, class T>
concept device_label_score_function =
    float_or_double<T> && std::is_trivially_copyable_v<F> &&
    requires(const F& f, const T* point, std::size_t dimension, T* scores) { f(point, dimension, scores); };

/// The device memory smooth_score_table_into may take at once for perturbed points and scores.
inline constexpr std::size_t default_smoothing_scratch_bytes = std::size_t{256} << 20;

namespace detail {

/// x + sigma z rounded twice, as the host computes it (nvcc would otherwise fuse the two).
__device__ inline float perturbed_coordinate(float x, float sigma, float z) {
  return __fadd_rn(x, __fmul_rn(sigma, z));
}
__device__ inline double perturbed_coordinate(double x, double sigma, double z) {
  return __dadd_rn(x, __dmul_rn(sigma, z));
}

/// Writes perturbation `sample` of the point x (d coordinates) into out.
template <float_or_double T>
__device__ void perturb(const T* x, std::size_t d, const random_stream& noise, T sigma, std::uint64_t sample, T* out) {
  constexpr std::uint64_t per_block = draws_per_block<T>;
  const std::uint64_t first = sample * d;
  for (std::uint64_t k = first / per_block; k * per_block < first + d; ++k) {
    const auto z = normal_block<T>(noise, k);
    for (std::uint64_t r = 0; r < per_block; ++r) {
      const std::uint64_t draw = k * per_block + r;
      if (draw >= first && draw < first + d) out[draw - first] = perturbed_coordinate(x[draw - first], sigma, z[r]);
    }
  }
}

/// The pairs (point, sample) of one launch: points [first_point, first_point + points), samples
/// [first_sample, first_sample + samples); pair p is point p / samples, sample p % samples.
struct pair_block {
  std::uint64_t first_point;
  std::uint64_t points;
  std::uint64_t first_sample;
  std::uint64_t samples;

  __host__ __device__ std::uint64_t size() const { return points * samples; }
};

/// The noise of the smoothing: stream (seed, first_point_id + point, role), scale sigma.
template <float_or_double T>
struct noise_source {
  std::uint64_t seed;
  std::uint32_t first_point_id;
  std::uint32_t role;
  T sigma;
  std::uint64_t samples_per_point;  // N, for the violation codes
};

/// One thread per pair: perturbs the point, calls the score function, checks the K scores
/// (reporting (point N + sample) K + label for the first outside [0, 1]).
template <float_or_double T, class F>
__global__ void perturb_and_score_kernel(F score, matrix_view<const T> points, noise_source<T> noise, pair_block block,
                                         std::size_t labels, T* perturbed, T* scores, unsigned long long* violation) {
  const std::size_t d = points.cols;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t pair = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; pair < block.size(); pair += stride) {
    const std::uint64_t point = block.first_point + pair / block.samples;
    const std::uint64_t sample = block.first_sample + pair % block.samples;
    const random_stream stream(noise.seed, static_cast<std::uint32_t>(noise.first_point_id + point), noise.role);
    T* x = perturbed + pair * d;
    T* s = scores + pair * labels;
    perturb(points.data + point * d, d, stream, noise.sigma, sample, x);
    score(static_cast<const T*>(x), d, s);
    for (std::size_t k = 0; k < labels; ++k) {
      if (s[k] >= 0 && s[k] <= 1) continue;
      report_violation(violation, (point * noise.samples_per_point + sample) * labels + k);
      break;
    }
  }
}

/// One thread per (point, label) of the block: Welford's update over the block's samples, in
/// order, continuing the running mean and sum of squared deviations; the host's operations.
template <float_or_double T>
__global__ void accumulate_moments_kernel(const T* scores, pair_block block, std::size_t labels, double* mean,
                                          double* squared_deviations) {
  const std::uint64_t items = block.points * labels;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t t = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; t < items; t += stride) {
    const std::uint64_t point = t / labels;
    const std::uint64_t k = t % labels;
    double m = mean[t];
    double sd = squared_deviations[t];
    for (std::uint64_t s = 0; s < block.samples; ++s) {
      const double value = scores[(point * block.samples + s) * labels + k];
      const double deviation = value - m;
      m = __dadd_rn(m, deviation / static_cast<double>(block.first_sample + s + 1));
      sd = __dadd_rn(sd, __dmul_rn(deviation, value - m));
    }
    mean[t] = m;
    squared_deviations[t] = sd;
  }
}

/// Writes the means (and sample variances, N >= 2) of the points [first_point, first_point +
/// points) into the n x K outputs, rounded to T as the host rounds them.
template <float_or_double T>
__global__ void write_moments_kernel(const double* mean, const double* squared_deviations, std::uint64_t first_point,
                                     std::uint64_t points, std::uint64_t samples, matrix_view<T> mean_out,
                                     matrix_view<T> variance_out) {
  const std::size_t labels = mean_out.cols;
  const std::uint64_t items = points * labels;
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t t = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; t < items; t += stride) {
    const std::uint64_t point = first_point + t / labels;
    const std::uint64_t k = t % labels;
    mean_out(point, k) = static_cast<T>(mean[t]);
    if (variance_out.rows != 0)
      variance_out(point, k) = static_cast<T>(squared_deviations[t] / static_cast<double>(samples - 1));
  }
}

/// Reports the smallest flat index of a non-finite coordinate.
template <float_or_double T>
__global__ void find_non_finite_kernel(const T* values, std::uint64_t count, unsigned long long* violation) {
  const std::uint64_t stride = std::uint64_t{gridDim.x} * blockDim.x;
  for (std::uint64_t i = blockIdx.x * std::uint64_t{blockDim.x} + threadIdx.x; i < count; i += stride)
    if (!isfinite(values[i])) report_violation(violation, i);
}

inline unsigned blocks_for_threads(std::uint64_t threads_wanted, unsigned threads) {
  return blocks_for_warps((threads_wanted + 31) / 32, threads);
}

/// The host's require_all_finite on the device points (invalid_argument naming the first).
template <float_or_double T>
void require_finite_points(exec::cuda policy, matrix_view<const T> points, std::string_view where) {
  const std::uint64_t count = std::uint64_t{points.rows} * points.cols;
  const violation_slot violation(policy.stream, where);
  constexpr unsigned threads = 256;
  find_non_finite_kernel<<<blocks_for_threads(count, threads), threads, 0, policy.stream>>>(points.data, count,
                                                                                          violation.data());
  check_launch(where);
  if (const auto index = violation.read(where)) {
    const T value = copy_to_host(points.data + *index, 1, policy.stream, where).front();
    require(false, where, "points[" + tessera::detail::to_text(*index) + "]", value, "a finite number");
  }
}

/// Throws the host's domain_error for the first score outside [0, 1] (code from
/// perturb_and_score_kernel): re-evaluates that perturbation on one thread and formats the
/// message from its scores as the host does.
template <float_or_double T, class F>
void throw_score_fault(exec::cuda policy, const F& score, matrix_view<const T> points, const noise_source<T>& noise,
                       std::size_t labels, unsigned long long code, std::string_view where) {
  const std::uint64_t pair = code / labels;
  const pair_block block{pair / noise.samples_per_point, 1, pair % noise.samples_per_point, 1};
  const stream_buffer<T> perturbed(points.cols, policy.stream, where);
  const stream_buffer<T> scores(labels, policy.stream, where);
  const violation_slot unused(policy.stream, where);
  perturb_and_score_kernel<<<1, 1, 0, policy.stream>>>(score, points, noise, block, labels, perturbed.data(),
                                                       scores.data(), unused.data());
  check_launch(where);
  const std::vector<T> values = copy_to_host(scores.data(), labels, policy.stream, where);
  require_unit_scores(where, std::span<const T>(values), block.first_sample);
  // A score function that returned another value when called again: report the first fault seen.
  throw domain_error(std::string(where) + ": the score function returned a value outside [0, 1] for label " +
                     tessera::detail::to_text(code % labels) + " at perturbation " +
                     tessera::detail::to_text(block.first_sample) + " (a different value when called again)");
}

/// The host's checks of smooth_score_table before its label count, in its order: the smoothing,
/// the points' shape, their finiteness (a kernel, read back) and the stream ids of the points.
template <float_or_double T>
void require_smoothing_inputs(exec::cuda policy, std::string_view where, const smoothing_parameters& smoothing,
                              bool with_variance, const matrix_view<const T>& points, std::uint32_t first_point_id) {
  require_smoothing(where, smoothing, with_variance);
  require(points.rows >= 1 && points.cols >= 1 && points.data != nullptr, where, "points.shape()",
          tessera::detail::to_text(points.rows) + " x " + tessera::detail::to_text(points.cols),
          "a two-dimensional n x d array with n >= 1, d >= 1");
  require_finite_points(policy, points, where);
  const std::uint64_t last_id = std::uint64_t{first_point_id} + points.rows - 1;
  require(last_id <= std::numeric_limits<std::uint32_t>::max(), where, "first_point_id + n - 1", last_id,
          "<= 2^32 - 1 (a stream id is 32 bits)");
}

/// Requires a device output of n x K (or, for an optional one, 0 x 0).
template <class T>
void require_output_shape(std::string_view where, std::string_view name, const matrix_view<T>& out,
                          std::size_t rows, std::size_t cols, bool optional) {
  const bool empty = out.rows == 0 && out.cols == 0;
  const std::string expected = tessera::detail::to_text(rows) + " x " + tessera::detail::to_text(cols) +
                               (optional ? " (or 0 x 0 for none)" : "");
  require((optional && empty) || (out.rows == rows && out.cols == cols && out.data != nullptr), where,
          std::string(name) + " shape",
          tessera::detail::to_text(out.rows) + " x " + tessera::detail::to_text(out.cols), expected);
}

/// smooth_score_table_into after its checks.
template <float_or_double T, class F>
void smooth_into(exec::cuda policy, matrix_view<const T> points, const F& score, const smoothing_parameters& smoothing,
                 std::uint64_t seed, noise_role role, std::uint32_t first_point_id, matrix_view<T> mean,
                 matrix_view<T> variance, std::size_t scratch_bytes, std::string_view where) {
  const std::size_t n = points.rows;
  const std::size_t d = points.cols;
  const std::size_t labels = mean.cols;
  const std::uint64_t samples = smoothing.samples;
  const std::uint64_t pair_budget = std::max<std::uint64_t>(1, scratch_bytes / ((d + labels) * sizeof(T)));
  const std::uint64_t points_per_launch = std::clamp<std::uint64_t>(pair_budget / samples, 1, n);
  const std::uint64_t samples_per_launch = std::clamp<std::uint64_t>(pair_budget / points_per_launch, 1, samples);
  const noise_source<T> noise{seed, first_point_id, static_cast<std::uint32_t>(role),
                              static_cast<T>(smoothing.sigma), samples};

  const stream_buffer<T> perturbed(points_per_launch * samples_per_launch * d, policy.stream, where);
  const stream_buffer<T> scores(points_per_launch * samples_per_launch * labels, policy.stream, where);
  const stream_buffer<double> running_mean(points_per_launch * labels, policy.stream, where);
  const stream_buffer<double> squared_deviations(points_per_launch * labels, policy.stream, where);
  const violation_slot violation(policy.stream, where);
  constexpr unsigned threads = 128;
  for (std::uint64_t first_point = 0; first_point < n; first_point += points_per_launch) {
    const std::uint64_t point_count = std::min<std::uint64_t>(points_per_launch, n - first_point);
    const std::size_t moment_bytes = point_count * labels * sizeof(double);
    check_cuda(cudaMemsetAsync(running_mean.data(), 0, moment_bytes, policy.stream), where);
    check_cuda(cudaMemsetAsync(squared_deviations.data(), 0, moment_bytes, policy.stream), where);
    for (std::uint64_t first_sample = 0; first_sample < samples; first_sample += samples_per_launch) {
      const pair_block block{first_point, point_count, first_sample,
                             std::min<std::uint64_t>(samples_per_launch, samples - first_sample)};
      perturb_and_score_kernel<<<blocks_for_threads(block.size(), threads), threads, 0, policy.stream>>>(
          score, points, noise, block, labels, perturbed.data(), scores.data(), violation.data());
      check_launch(where);
      accumulate_moments_kernel<<<blocks_for_threads(point_count * labels, threads), threads, 0, policy.stream>>>(
          scores.data(), block, labels, running_mean.data(), squared_deviations.data());
      check_launch(where);
    }
    write_moments_kernel<<<blocks_for_threads(point_count * labels, threads), threads, 0, policy.stream>>>(
        running_mean.data(), squared_deviations.data(), first_point, point_count, samples, mean, variance);
    check_launch(where);
  }
  if (const auto code = violation.read(where))
    throw_score_fault(policy, score, points, noise, labels, *code, where);
}

}  // namespace detail

/// The Monte Carlo smoothed scores of n points on the device, into device matrices:
/// mean(i, k) = (1/N) sum_s S(x_i + sigma z_s, k), and, when variance is n x K, the sample
/// variances (denominator N - 1); the host's smooth_score_table bit for bit when the score
/// function computes the same bits on host and device. Row i uses noise_stream(seed,
/// first_point_id + i, role).
/// points: an n x d device matrix of finite coordinates (n, d >= 1); score: see
/// device_label_score_function; mean: n x K device matrix (K >= 1), written; variance: n x K
/// device matrix or an empty view; scratch_bytes: the most device memory taken for perturbed
/// points and scores at once (more launches when smaller).
/// Cost: n N calls of score and n N d normal draws, in parallel over (point, sample); then
/// O(n N K) for the moments, in parallel over (point, label). Synchronizes policy.stream.
/// Throws invalid_argument on sigma <= 0, samples < 1 (< 2 with a variance), bad shapes, point
/// ids past 2^32 - 1 or a non-finite coordinate (the host's message); domain_error when score
/// returns a value outside [0, 1] (the host's message for the first, in the host's order; the
/// outputs are then unspecified); cuda_error when a CUDA call fails.
template <float_or_double T, device_label_score_function<T> F>
void smooth_score_table_into(exec::cuda policy, matrix_view<const T> points, const F& score,
                             const smoothing_parameters& smoothing, std::uint64_t seed, noise_role role,
                             std::uint32_t first_point_id, matrix_view<T> mean, matrix_view<T> variance = {},
                             std::size_t scratch_bytes = default_smoothing_scratch_bytes) {
  constexpr std::string_view where = "tessera::conformal::smooth_score_table";
  const bool with_variance = variance.rows != 0 || variance.cols != 0;
  detail::require_smoothing_inputs(policy, where, smoothing, with_variance, points, first_point_id);
  require(mean.cols >= 1, where, "mean.cols", mean.cols, ">= 1 (a label)");
  detail::require_output_shape(where, "mean", mean, points.rows, mean.cols, false);
  detail::require_output_shape(where, "variance", variance, points.rows, mean.cols, true);
  detail::smooth_into(policy, points, score, smoothing, seed, role, first_point_id, mean, variance, scratch_bytes,
                      where);
}

/// smooth_score_table_into with the tables returned to the host, the signature of the host's
/// smooth_score_table with the points in device memory: a table to give to
/// robust_conformal_classifier::calibrate or ::predict. label_count: K >= 1; with_variance: also
/// the sample variances (N >= 2). Cost as smooth_score_table_into plus the copy of the tables.
/// Throws as smooth_score_table_into.
template <float_or_double T, device_label_score_function<T> F>
smoothed_score_table<T> smooth_score_table(exec::cuda policy, matrix_view<const T> points, const F& score,
                                           std::size_t label_count, const smoothing_parameters& smoothing,
                                           std::uint64_t seed, noise_role role, std::uint32_t first_point_id = 0,
                                           bool with_variance = false) {
  constexpr std::string_view where = "tessera::conformal::smooth_score_table";
  detail::require_smoothing_inputs(policy, where, smoothing, with_variance, points, first_point_id);
  require(label_count >= 1, where, "label_count", label_count, ">= 1");
  const std::size_t n = points.rows;
  const std::size_t variance_rows = with_variance ? n : 0;
  const std::size_t variance_cols = with_variance ? label_count : 0;
  const detail::stream_buffer<T> mean(n * label_count, policy.stream, where);
  const detail::stream_buffer<T> variance(variance_rows * variance_cols, policy.stream, where);
  detail::smooth_into(policy, points, score, smoothing, seed, role, first_point_id,
                      matrix_view<T>{mean.data(), n, label_count},
                      matrix_view<T>{variance.data(), variance_rows, variance_cols}, default_smoothing_scratch_bytes,
                      where);
  smoothed_score_table<T> table{tessera::detail::fresh_tensor<T, 2>({n, label_count}),
                                tessera::detail::fresh_tensor<T, 2>({variance_rows, variance_cols})};
  detail::copy_to_host(mean.data(), std::span<T>(table.mean.data(), mean.size()), policy.stream, where);
  detail::copy_to_host(variance.data(), std::span<T>(table.variance.data(), variance.size()), policy.stream, where);
  return table;
}

}  // namespace tessera::conformal
