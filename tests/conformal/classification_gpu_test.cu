// The device backend of split conformal classification against the host's: calibration scores,
// conformal quantiles (marginal and per label) and prediction sets, for LAC, APS, RAPS and Top-K,
// float and double, on rows held in registers (K <= 32, <= 256, <= 1024) and read from memory
// (K > 1024), softmax rows (continuous) and dyadic rows (many ties, exact sums). Then the input
// checks: the device reports the host's message, also to calls that run at the same time.
//
// Tolerances. LAC and Top-K: identical (their scores involve no sum; ranks are exact counts).
// APS and RAPS: the mass before a label is a sum of at most K - 1 probabilities of total <= 1,
// summed in another order on each side, so each differs from the exact sum by at most
// gamma_(K-1) <= (K - 1) eps / 2 (plus the rounding of m + u p + penalty, which the device fuses):
// |s_device - s_host| <= K eps (1 + |s|). A set may differ only in labels whose host score is
// within that distance of q; every difference found is checked to be such a near-tie.
#include <catch2/catch.hpp>
#include <thrust/device_vector.h>
#include <thrust/host_vector.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <tessera/conformal/cuda/classification.cuh>
#include <tessera/conformal/cuda/quantile.cuh>
#include <tessera/conformal/split_classifier.hpp>
#include <tessera/core/random.hpp>
#include <thread>
#include <utility>
#include <vector>
#include <xtensor/xtensor.hpp>
#include <xtensor/xview.hpp>

#include "support/gpu_support.cuh"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
using tessera::test::message_of;

namespace {

const tessera::exec::cuda device{};

template <class T>
std::vector<T> to_host(const thrust::device_vector<T>& v) {
  const thrust::host_vector<T> h = v;
  return std::vector<T>(h.begin(), h.end());
}

template <class T>
std::span<const T> const_span(const thrust::device_vector<T>& v) {
  return {thrust::raw_pointer_cast(v.data()), v.size()};
}

/// A probability matrix on both sides, with labels for its rows.
template <class T>
struct labelled_rows {
  xt::xtensor<T, 2> host;
  thrust::device_vector<T> device;
  std::vector<std::int32_t> labels;
  thrust::device_vector<std::int32_t> device_labels;

  labelled_rows(xt::xtensor<T, 2> rows, std::vector<std::int32_t> y)
      : host(std::move(rows)), device(host.data(), host.data() + host.size()), labels(std::move(y)),
        device_labels(labels.begin(), labels.end()) {}

  std::size_t rows() const { return host.shape()[0]; }
  std::size_t classes() const { return host.shape()[1]; }
  tessera::matrix_view<const T> view() const { return {thrust::raw_pointer_cast(device.data()), rows(), classes()}; }
  std::span<const T> row(std::size_t i) const { return {host.data() + i * classes(), classes()}; }
};

template <class T>
std::vector<std::int32_t> random_labels(std::size_t n, std::size_t classes, std::uint32_t id) {
  const tessera::random_stream s(2024, id, 1);
  std::vector<std::int32_t> y(n);
  for (std::size_t i = 0; i < n; ++i)
    y[i] = static_cast<std::int32_t>(s.block(i)[0] % static_cast<std::uint32_t>(classes));
  return y;
}

// Softmax of Gaussian logits with a temperature that varies by row: peaked rows, flat rows, and
// every 17th row uniform (all labels tied). Computed in double, rounded to T: each row sums to 1
// within K 2^-24 relative rounding of its entries, far inside 1e-6.
template <class T>
labelled_rows<T> softmax_rows(std::size_t n, std::size_t classes, std::uint32_t id) {
  const tessera::random_stream s(7, id);
  auto p = xt::xtensor<T, 2>::from_shape({n, classes});
  std::vector<double> logits(classes);
  for (std::size_t i = 0; i < n; ++i) {
    const double scale = i % 17 == 0 ? 0.0 : 0.25 + 4.0 * tessera::uniform<double>(s, i);
    double top = -std::numeric_limits<double>::infinity();
    for (std::size_t j = 0; j < classes; ++j) {
      logits[j] = scale * tessera::normal<double>(s, n + i * classes + j);
      top = std::max(top, logits[j]);
    }
    double sum = 0;
    for (double& z : logits) sum += (z = std::exp(z - top));
    for (std::size_t j = 0; j < classes; ++j) p(i, j) = static_cast<T>(logits[j] / sum);
  }
  return {std::move(p), random_labels<T>(n, classes, id)};
}

// Rows of counts / 1024 from 1024 labels drawn with a skew (label = floor(K u^3)): dyadic values,
// exact in float and double, with many ties and zeros; every sum of them is exact in any order.
template <class T>
labelled_rows<T> dyadic_rows(std::size_t n, std::size_t classes, std::uint32_t id) {
  const tessera::random_stream s(11, id);
  auto p = xt::xtensor<T, 2>::from_shape({n, classes});
  std::fill(p.begin(), p.end(), T(0));
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t unit = 0; unit < 1024; ++unit) {
      const double u = tessera::uniform<double>(s, i * 1024 + unit);
      const auto label = static_cast<std::size_t>(static_cast<double>(classes) * u * u * u);
      p(i, label) += T(1.0 / 1024);
    }
  return {std::move(p), random_labels<T>(n, classes, id + 100)};
}

template <class T>
double epsilon() {
  return std::numeric_limits<T>::epsilon();
}

// The host's sets of every row for threshold q, drawing u as split_classifier::predict does.
template <class T, class S>
std::vector<std::uint8_t> host_sets(const S& score, const labelled_rows<T>& rows, T q, std::uint64_t seed,
                                    std::uint64_t first_row) {
  const std::size_t k = rows.classes();
  std::vector<std::int32_t> scratch(k);
  auto in_set = std::make_unique<bool[]>(k);
  std::vector<std::uint8_t> sets(rows.rows() * k);
  const tessera::random_stream draws(seed, 1);
  for (std::size_t j = 0; j < rows.rows(); ++j) {
    cf::fill_prediction_set(score, rows.row(j), q, tessera::uniform<T>(draws, first_row + j),
                            std::span<std::int32_t>(scratch), std::span<bool>(in_set.get(), k));
    for (std::size_t y = 0; y < k; ++y) sets[j * k + y] = in_set[y] ? 1 : 0;
  }
  return sets;
}

template <class T, class S>
std::vector<std::uint8_t> device_sets(const S& score, const labelled_rows<T>& rows, T q, std::uint64_t seed,
                                      std::uint64_t first_row) {
  thrust::device_vector<std::uint8_t> mask(rows.rows() * rows.classes(), 7);
  cf::predict_sets(device, score, rows.view(), q, seed, first_row,
                   tessera::matrix_view<std::uint8_t>{thrust::raw_pointer_cast(mask.data()), rows.rows(),
                                                      rows.classes()});
  return to_host(mask);
}

// Every entry where the device's set differs from the host's must be a label whose host score
// lies within K eps (1 + |q|) of q.
template <class T, class S>
void check_near_ties(const S& score, const labelled_rows<T>& rows, T q, std::uint64_t seed,
                                 std::uint64_t first_row, const std::vector<std::uint8_t>& host,
                                 const std::vector<std::uint8_t>& dev) {
  const std::size_t k = rows.classes();
  const double tolerance = static_cast<double>(k) * epsilon<T>() * (1 + std::abs(static_cast<double>(q)));
  std::vector<std::int32_t> scratch(k);
  std::vector<T> scores(k);
  const tessera::random_stream draws(seed, 1);
  for (std::size_t j = 0; j < rows.rows(); ++j) {
    bool scored = false;
    for (std::size_t y = 0; y < k; ++y) {
      if (host[j * k + y] == dev[j * k + y]) continue;
      if (!scored) {
        cf::fill_scores(score, rows.row(j), tessera::uniform<T>(draws, first_row + j), std::span<std::int32_t>(scratch),
                        std::span<T>(scores));
        scored = true;
      }
      INFO("row " << j << ", label " << y << ": host score " << scores[y] << ", q " << q);
      CHECK(std::abs(static_cast<double>(scores[y]) - static_cast<double>(q)) <= tolerance);
    }
  }
}

// Thresholds that put set ends everywhere: the conformal quantiles of the host's calibration
// scores at several alphas, a label's exact score (a tie with q), and the extremes.
template <class T, class S>
std::vector<T> thresholds_for(const S& score, const labelled_rows<T>& rows, std::uint64_t seed) {
  std::vector<T> scores = cf::calibration_scores(score, rows.host, rows.labels, seed);
  std::vector<T> q;
  for (double alpha : {0.02, 0.1, 0.3, 0.6, 0.9})
    q.push_back(cf::conformal_quantile(std::span<const T>(scores), alpha));
  q.push_back(scores[scores.size() / 2]);
  q.push_back(T(0));
  q.push_back(std::numeric_limits<T>::infinity());
  return q;
}

const std::vector<std::size_t> class_counts{1, 7, 32, 100, 1000, 1500};

std::size_t rows_for(std::size_t classes) { return classes <= 100 ? 600 : (classes <= 1000 ? 120 : 40); }

template <class T, class S>
void check_calibration_scores(const S& score, const labelled_rows<T>& rows, bool exact) {
  const std::uint64_t seed = 99;
  const std::vector<T> host = cf::calibration_scores(score, rows.host, rows.labels, seed);
  thrust::device_vector<T> dev(rows.rows());
  cf::calibration_scores(device, score, rows.view(), const_span(rows.device_labels), seed,
                         tessera::test::device_span(dev));
  const std::vector<T> got = to_host(dev);
  const double k = static_cast<double>(rows.classes());
  for (std::size_t i = 0; i < host.size(); ++i) {
    INFO("K = " << rows.classes() << ", row " << i);
    if (exact)
      CHECK(got[i] == host[i]);
    else
      CHECK(std::abs(static_cast<double>(got[i]) - static_cast<double>(host[i])) <=
            k * epsilon<T>() * (1 + std::abs(static_cast<double>(host[i]))));
  }
  // The device quantile of the device scores is the host quantile of the same values, exactly;
  // against the host's own scores it is exact for exact scores, within the score tolerance else.
  for (double alpha : {0.05, 0.1, 0.5}) {
    const T q_device = cf::conformal_quantile(device, const_span(dev), alpha);
    CHECK(q_device == cf::conformal_quantile(std::span<const T>(got), alpha));
    const T q_host = cf::conformal_quantile(std::span<const T>(host), alpha);
    if (exact || std::isinf(q_host))
      CHECK(q_device == q_host);
    else
      CHECK(std::abs(static_cast<double>(q_device) - static_cast<double>(q_host)) <=
            k * epsilon<T>() * (1 + std::abs(static_cast<double>(q_host))));
  }
}

template <class T, class S>
void check_sets(const S& score, const labelled_rows<T>& rows, bool exact) {
  const std::uint64_t seed = 5;
  for (const std::uint64_t first_row : {std::uint64_t{0}, std::uint64_t{123456789}}) {
    for (const T q : thresholds_for(score, rows, seed)) {
      INFO("K = " << rows.classes() << ", q = " << q << ", first_row = " << first_row);
      const auto host = host_sets(score, rows, q, seed, first_row);
      const auto dev = device_sets(score, rows, q, seed, first_row);
      if (exact)
        CHECK(dev == host);
      else
        check_near_ties(score, rows, q, seed, first_row, host, dev);
    }
  }
}

template <class T, class S>
void check_score(const S& score, bool exact_on_softmax, bool exact_on_dyadic) {
  for (const std::size_t k : class_counts) {
    const auto smooth = softmax_rows<T>(rows_for(k), k, static_cast<std::uint32_t>(k));
    const auto dyadic = dyadic_rows<T>(rows_for(k), k, static_cast<std::uint32_t>(k));
    check_calibration_scores(score, smooth, exact_on_softmax);
    check_calibration_scores(score, dyadic, exact_on_dyadic);
    check_sets(score, smooth, exact_on_softmax);
    check_sets(score, dyadic, exact_on_dyadic);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("LAC and Top-K scores and sets on the device equal the host's", "[gpu]", float, double) {
  check_score<TestType>(cf::lac_score{}, true, true);
  check_score<TestType>(cf::top_k_score{}, true, true);
}

TEMPLATE_TEST_CASE("APS and RAPS on the device differ from the host only at near-ties", "[gpu]", float, double) {
  // Deterministic APS on dyadic rows: u p = p and every mass is exact, so nothing may differ.
  check_score<TestType>(cf::aps_score{false}, false, true);
  check_score<TestType>(cf::aps_score{true}, false, false);
  check_score<TestType>(cf::raps_score{2, 0.01, true}, false, false);
  check_score<TestType>(cf::raps_score{0, 0.2, false}, false, false);
}

namespace {

// Rows whose labels fall in `groups` groups of more than 32 (label j in group j % groups), each of
// probabilities within about 1e-10 of one another: distinct doubles sharing their high word (the
// device search's first key; see ranked_set_end.cuh), equal once rounded to float. Every row is
// the same, so a threshold placed at one label's score places it there in every row.
template <class T>
labelled_rows<T> near_tied_rows(std::size_t n, std::size_t classes, std::size_t groups) {
  std::vector<double> row(classes);
  double sum = 0;
  for (std::size_t j = 0; j < classes; ++j) {
    const double weight = static_cast<double>((j % groups + 1) * (j % groups + 3));
    sum += row[j] = weight * (1 + static_cast<double>(j / groups) * 0x1p-40);
  }
  auto p = xt::xtensor<T, 2>::from_shape({n, classes});
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t j = 0; j < classes; ++j) p(i, j) = static_cast<T>(row[j] / sum);
  return {std::move(p), random_labels<T>(n, classes, 77)};
}

// APS without the monotone_in_probability trait: the device must find each first label below a
// pivot instead of bounding its score.
struct aps_score_without_probability_trait {
  static constexpr bool uses_rank = true;
  cf::aps_score aps{false};

  template <class T>
  __host__ __device__ T value(T probability, cf::label_standing<T> standing, T u) const {
    return aps.value(probability, standing, u);
  }
};

// Thresholds at every label's score s in row 0 (u = 1: the scores of deterministic APS are the
// same in every row) and at s (1 -+ 1e-11): within the span of scores that a double high word
// allows the label (about 2^-20 of its probability), far outside the sums' rounding (about
// K eps = 2e-13), so that the device must decide that label exactly, and every way it can err
// leaves a difference that check_near_ties rejects.
template <class T, class S>
std::vector<T> scores_of_first_row_and_beside(const S& score, const labelled_rows<T>& rows) {
  std::vector<std::int32_t> scratch(rows.classes());
  std::vector<T> scores(rows.classes());
  cf::fill_scores(score, rows.row(0), T(1), std::span<std::int32_t>(scratch), std::span<T>(scores));
  std::vector<T> thresholds;
  for (const T s : scores)
    for (const double factor : {1 - 1e-11, 1.0, 1 + 1e-11}) thresholds.push_back(static_cast<T>(s * factor));
  return thresholds;
}

}  // namespace

TEMPLATE_TEST_CASE("ranked sets of rows of near-tied probabilities on the device", "[gpu]", float, double) {
  // K = 100 in two groups (rows in registers, 8 per lane), 1000 in eight (32 per lane), 1500 in
  // ten (read from memory). Deterministic APS with q at and beside each label's score: the
  // decisions between two groups are those the score's bounds leave open; RAPS at general
  // thresholds.
  const std::pair<std::size_t, std::size_t> shapes[] = {{100, 2}, {1000, 8}, {1500, 10}};
  for (const auto& [classes, groups] : shapes) {
    const auto rows = near_tied_rows<TestType>(4, classes, groups);
    const cf::aps_score deterministic{false};
    const aps_score_without_probability_trait untraited;
    for (const TestType q : scores_of_first_row_and_beside(deterministic, rows)) {
      INFO("K = " << classes << ", q = " << q);
      const auto host = host_sets(deterministic, rows, q, 5, 0);
      check_near_ties(deterministic, rows, q, 5, 0, host, device_sets(deterministic, rows, q, 5, 0));
      check_near_ties(deterministic, rows, q, 5, 0, host, device_sets(untraited, rows, q, 5, 0));
    }
    const cf::raps_score raps{3, 0.001, true};
    for (const TestType q : thresholds_for(raps, rows, 5)) {
      INFO("K = " << classes << ", RAPS q = " << q);
      check_near_ties(raps, rows, q, 5, 0, host_sets(raps, rows, q, 5, 0), device_sets(raps, rows, q, 5, 0));
    }
  }
}

TEMPLATE_TEST_CASE("a test set split in batches draws as one call on the device", "[gpu]", float, double) {
  const auto rows = softmax_rows<TestType>(300, 40, 3);
  const TestType q = TestType(0.8);
  const auto whole = device_sets(cf::aps_score{}, rows, q, 17, 1000);
  const std::size_t half = 140;
  const auto& p = rows.host;
  const labelled_rows<TestType> first(xt::xtensor<TestType, 2>(xt::view(p, xt::range(0, half), xt::all())),
                                      std::vector<std::int32_t>(half, 0));
  const labelled_rows<TestType> second(xt::xtensor<TestType, 2>(xt::view(p, xt::range(half, 300), xt::all())),
                                       std::vector<std::int32_t>(300 - half, 0));
  auto joined = device_sets(cf::aps_score{}, first, q, 17, 1000);
  const auto rest = device_sets(cf::aps_score{}, second, q, 17, 1000 + half);
  joined.insert(joined.end(), rest.begin(), rest.end());
  CHECK(joined == whole);
}

TEST_CASE("concurrent calls on two streams each read back their own input check", "[gpu]") {
  // Two threads, each with its own stream, call predict_sets at the same time, one on rows with a
  // bad entry and one on good rows. Their fault words come from one pool: a call that shared its
  // word with the other would throw for the good rows or miss the bad entry.
  const auto good = softmax_rows<float>(4000, 300, 12);
  auto bad_host = good.host;
  bad_host(3500, 7) = -1.0f;
  const labelled_rows<float> bad(bad_host, good.labels);
  const auto expected = device_sets(cf::aps_score{}, good, 0.9f, 3, 0);
  const std::string bad_message = "tessera::conformal::predict_sets: probabilities(3500, 7) = -1; expected a finite "
                                  "number >= 0";
  constexpr int calls = 40;
  const auto run = [&](const labelled_rows<float>& rows, bool faulty, int& failures) {
    cudaStream_t stream = nullptr;
    if (cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking) != cudaSuccess) {
      failures = calls;
      return;
    }
    thrust::device_vector<std::uint8_t> mask(rows.rows() * rows.classes());
    const tessera::matrix_view<std::uint8_t> sets{thrust::raw_pointer_cast(mask.data()), rows.rows(), rows.classes()};
    for (int c = 0; c < calls; ++c) {
      try {
        const std::string message = message_of(
            [&] { cf::predict_sets(tessera::exec::cuda{stream}, cf::aps_score{}, rows.view(), 0.9f, 3, 0, sets); });
        const bool right = faulty ? message == bad_message : message == "(no exception)" && to_host(mask) == expected;
        failures += right ? 0 : 1;
      } catch (...) {
        ++failures;
      }
    }
    cudaStreamDestroy(stream);
  };
  int good_failures = 0, bad_failures = 0;  // each written by one thread; Catch2 checks on this one
  std::thread good_calls(run, std::cref(good), false, std::ref(good_failures));
  std::thread bad_calls(run, std::cref(bad), true, std::ref(bad_failures));
  good_calls.join();
  bad_calls.join();
  CHECK(good_failures == 0);
  CHECK(bad_failures == 0);
}

TEMPLATE_TEST_CASE("per-label LAC thresholds on the device equal the host's class-conditional sets", "[gpu]", float,
                   double) {
  for (const std::size_t k : {std::size_t{7}, std::size_t{60}}) {
    // K = 60 > 48 labels: the selection counts in global memory instead of shared memory.
    const auto calibration = softmax_rows<TestType>(3000, k, 40);
    const auto test = softmax_rows<TestType>(500, k, 41);
    const std::vector<TestType> scores =
        cf::calibration_scores(cf::lac_score{}, calibration.host, calibration.labels, 1);
    const thrust::device_vector<TestType> device_scores(scores.begin(), scores.end());
    for (double alpha : {0.05, 0.2}) {
      const std::vector<TestType> q = cf::class_conditional_quantiles(
          device, const_span(device_scores), const_span(calibration.device_labels), k, alpha);
      const std::vector<TestType> expected =
          cf::class_conditional_quantiles<TestType>(scores, calibration.labels, k, alpha);
      CHECK(q == expected);

      thrust::device_vector<std::uint8_t> mask(test.rows() * k);
      cf::predict_sets(device, cf::lac_score{}, test.view(), q, 1, 0,
                       tessera::matrix_view<std::uint8_t>{thrust::raw_pointer_cast(mask.data()), test.rows(), k});
      const auto got = to_host(mask);
      for (std::size_t j = 0; j < test.rows(); ++j)
        for (std::size_t y = 0; y < k; ++y) CHECK((got[j * k + y] == 1) == (1 - test.host(j, y) <= q[y]));
    }
  }
}

TEMPLATE_TEST_CASE("the device quantile is the host's order statistic, bit for bit", "[gpu]", float, double) {
  using T = TestType;
  const tessera::random_stream s(31);
  const T inf = std::numeric_limits<T>::infinity();
  for (const std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{9}, std::size_t{1000}, std::size_t{100003}}) {
    std::vector<T> scores(n);
    // Signed values across magnitudes, repeated values, and infinities.
    for (std::size_t i = 0; i < n; ++i) {
      const T z = tessera::normal<T>(s, i);
      scores[i] = i % 5 == 0 ? std::round(z) : z * std::exp(T(4) * tessera::uniform<T>(s, n + i));
      if (i % 97 == 3) scores[i] = (i % 2 == 0 ? inf : -inf);
    }
    const thrust::device_vector<T> dev(scores.begin(), scores.end());
    for (double alpha : {0.01, 0.1, 0.5, 0.9, 0.999}) {
      INFO("n = " << n << ", alpha = " << alpha);
      CHECK(cf::conformal_quantile(device, const_span(dev), alpha) ==
            cf::conformal_quantile(std::span<const T>(scores), alpha));
    }
  }
  // Rank beyond n: +inf, as on the host.
  const thrust::device_vector<T> five(5, T(0.5));
  CHECK(cf::conformal_quantile(device, const_span(five), 0.1) == inf);
  // A label without calibration rows (label 2 of 3) gets +inf.
  const std::vector<T> scores{T(0.1), T(0.2), T(0.3), T(0.4)};
  const std::vector<std::int32_t> labels{0, 1, 0, 1};
  const thrust::device_vector<T> d_scores(scores.begin(), scores.end());
  const thrust::device_vector<std::int32_t> d_labels(labels.begin(), labels.end());
  const auto q = cf::class_conditional_quantiles(device, const_span(d_scores), const_span(d_labels), 3, 0.5);
  CHECK(q == cf::class_conditional_quantiles<T>(scores, labels, 3, 0.5));
  CHECK(q[2] == inf);
}

TEST_CASE("device input checks give the host's messages", "[gpu]") {
  auto rows = softmax_rows<double>(6, 5, 8);
  const std::string calibration = "tessera::conformal::calibration_scores: ";
  thrust::device_vector<double> out(6);
  const auto calibrate = [&](const labelled_rows<double>& r) {
    cf::calibration_scores(device, cf::aps_score{}, r.view(), const_span(r.device_labels), 1,
                           tessera::test::device_span(out));
  };
  const auto host_message = [&](const labelled_rows<double>& r) {
    return message_of([&] { (void)cf::calibration_scores(cf::aps_score{}, r.host, r.labels, 1); });
  };

  // An entry error in a later row wins over a sum error in an earlier one, as on the host.
  auto bad = rows.host;
  bad(1, 0) += 0.5;
  bad(4, 2) = -0.25;
  const labelled_rows<double> entry(bad, rows.labels);
  CHECK(message_of([&] { calibrate(entry); }) ==
        calibration + "probabilities(4, 2) = -0.25; expected a finite number >= 0");
  CHECK(message_of([&] { calibrate(entry); }) == host_message(entry));

  bad = rows.host;
  bad(3, 1) = std::numeric_limits<double>::quiet_NaN();
  const labelled_rows<double> nan_entry(bad, rows.labels);
  CHECK(message_of([&] { calibrate(nan_entry); }) == host_message(nan_entry));

  // The device has no renormalizing option, so its message leaves out the host's hint to it.
  bad = rows.host;
  bad(1, 0) += 0.5;
  const labelled_rows<double> sum(bad, rows.labels);
  const std::string host_sum_message = host_message(sum);
  const std::string sum_message = host_sum_message.substr(0, host_sum_message.find(" (or row_sums::renormalized)"));
  CHECK(sum_message.starts_with(calibration + "the sum of probabilities row 1 = 1."));
  CHECK(message_of([&] { calibrate(sum); }) == sum_message);

  auto labels = rows.labels;
  labels[2] = 5;
  const labelled_rows<double> label(rows.host, labels);
  CHECK(message_of([&] { calibrate(label); }) == calibration + "labels[2] = 5; expected 0 <= labels[2] <= 4");
  CHECK(message_of([&] { calibrate(label); }) == host_message(label));

  thrust::device_vector<double> short_out(5);
  CHECK(message_of([&] {
          cf::calibration_scores(device, cf::lac_score{}, rows.view(), const_span(rows.device_labels), 1,
                                 tessera::test::device_span(short_out));
        }) == calibration + "scores.size() = 5; expected probabilities.rows = 6");
  CHECK(message_of([&] {
          cf::calibration_scores(device, cf::raps_score{-1, 0.01, true}, rows.view(), const_span(rows.device_labels), 1,
                                 tessera::test::device_span(out));
        }) == calibration + "k_reg = -1; expected >= 0");

  const std::string predict = "tessera::conformal::predict_sets: ";
  thrust::device_vector<std::uint8_t> mask(30);
  const tessera::matrix_view<std::uint8_t> sets{thrust::raw_pointer_cast(mask.data()), 6, 5};
  for (const bool ranked : {false, true}) {
    const auto call = [&](const labelled_rows<double>& r, double q) {
      if (ranked)
        cf::predict_sets(device, cf::aps_score{}, r.view(), q, 1, 0, sets);
      else
        cf::predict_sets(device, cf::lac_score{}, r.view(), q, 1, 0, sets);
    };
    CHECK(message_of([&] { call(entry, 0.5); }) ==
          predict + "probabilities(4, 2) = -0.25; expected a finite number >= 0");
    CHECK(message_of([&] { call(sum, 0.5); }) == predict + sum_message.substr(calibration.size()));
    CHECK(message_of([&] { call(rows, std::nan("")); }) == predict + "threshold = nan; expected a number (not NaN)");
  }
  const std::vector<double> per_label(5, 0.5);
  CHECK(message_of([&] { cf::predict_sets(device, cf::top_k_score{}, rows.view(), per_label, 1, 0, sets); })
            .starts_with(predict + "thresholds.size() = 5; expected 1 for a ranked score"));
  CHECK(message_of([&] {
          cf::predict_sets(device, cf::lac_score{}, rows.view(), std::vector<double>(4, 0.5), 1, 0, sets);
        }) == predict + "thresholds.size() = 4; expected probabilities.cols = 5");
  CHECK(message_of([&] {
          cf::predict_sets(device, cf::lac_score{}, rows.view(), 0.5, 1, 0,
                           tessera::matrix_view<std::uint8_t>{sets.data, 6, 4});
        }) == predict + "sets shape = 6 x 4; expected the probabilities' shape 6 x 5");

  const std::string quantile = "tessera::conformal::conformal_quantile: ";
  std::vector<double> scores{0.3, 0.1, std::nan(""), 0.2, std::nan("")};
  const thrust::device_vector<double> d_scores(scores.begin(), scores.end());
  CHECK(message_of([&] { (void)cf::conformal_quantile(device, const_span(d_scores), 0.1); }) ==
        message_of([&] { (void)cf::conformal_quantile(std::span<const double>(scores), 0.1); }));
  CHECK(message_of([&] { (void)cf::conformal_quantile(device, const_span(d_scores), 0.1); }) ==
        quantile + "scores[2] = nan; expected a number (not NaN)");
  CHECK(message_of([&] { (void)cf::conformal_quantile(device, const_span(d_scores), 1.0); }) ==
        quantile + "alpha = 1; expected 0 < value < 1");
  const thrust::device_vector<std::int32_t> d_labels(std::vector<std::int32_t>{0, 1, 2, 3, 1});
  CHECK(message_of([&] {
          (void)cf::class_conditional_quantiles(device, const_span(d_scores), const_span(d_labels), 3, 0.1);
        }) == "tessera::conformal::class_conditional_quantiles: labels[3] = 3; expected 0 <= labels[3] <= 2");
}
