#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <tessera/conformal/metrics.hpp>
#include <tessera/conformal/post_training_transformation.hpp>
#include <tessera/core/random.hpp>
#include <vector>
#include <xtensor/xtensor.hpp>

#include "support/gaussian_mixture.hpp"
#include "support/test_support.hpp"

namespace cf = tessera::conformal;
using tessera::test::message_of;
using namespace tessera::test;  // the mixture, its classifier and the attack

TEST_CASE("the rank transform is the empirical CDF #{r_j <= s} / m of the reference scores") {
  // As the authors' bisect.bisect(sorted reference, s) / m: ties count as at most s.
  const std::vector<double> reference{0.3, 0.1, 0.2, 0.2};
  const cf::rank_transform<double> rank(reference);
  CHECK(rank(0.05) == 0.0);
  CHECK(rank(0.1) == 0.25);
  CHECK(rank(0.15) == 0.25);
  CHECK(rank(0.2) == 0.75);
  CHECK(rank(0.3) == 1.0);
  CHECK(rank(7.0) == 1.0);
  CHECK(std::vector<double>(rank.sorted_reference().begin(), rank.sorted_reference().end()) ==
        std::vector<double>{0.1, 0.2, 0.2, 0.3});
  CHECK_THROWS_AS(rank(std::nan("")), tessera::domain_error);
  const std::vector<float> empty;
  CHECK(message_of([&] { cf::rank_transform<float>{std::span<const float>(empty)}; }) ==
        "tessera::conformal::rank_transform: reference_scores.size() = 0; expected >= 1");
}

TEST_CASE("the sigmoid is 1 / (1 + exp(-(s - b) / T))") {
  const cf::sigmoid_transform paper;  // b = 0.9, T = 1/400: the authors' defaults
  CHECK(paper.bias == 0.9);
  CHECK(paper.temperature == 1.0 / 400);
  CHECK(paper(0.9) == Approx(0.5).epsilon(1e-12));
  CHECK(paper(0.9025) == Approx(0.7310585786300049).epsilon(1e-12));  // 1 / (1 + e^-1)
  CHECK(paper(0.0) < 1e-150);                                       // e^-360
  CHECK(paper(0.0f) == 0.0f);                                       // underflows in float, stays in [0, 1]
  CHECK(cf::sigmoid_transform{0.5, 0.1}(0.7) == Approx(0.8807970779778823).epsilon(1e-12));  // 1 / (1 + e^-2)
}

TEST_CASE("PTT composes the sigmoid with the rank and applies to every label of a score function") {
  const std::vector<double> reference{0.1, 0.2, 0.3, 0.4};
  const cf::post_training_transformation<double> ptt(cf::rank_transform<double>(reference), {0.5, 0.1});
  CHECK(ptt(0.25) == Approx(0.5).epsilon(1e-15));                   // rank 0.5
  CHECK(ptt(0.35) == Approx(0.9241418199787566).epsilon(1e-12));    // rank 0.75: 1 / (1 + e^-2.5)
  auto base = [](std::span<const double>, std::span<double> s) { s[0] = 0.05; s[1] = 0.35; s[2] = 0.9; };
  auto transformed = ptt.transformed(base);
  std::vector<double> scores(3);
  const std::vector<double> point{0.0};
  transformed(std::span<const double>(point), std::span<double>(scores));
  CHECK(scores == std::vector<double>{ptt(0.05), ptt(0.35), ptt(0.9)});
  CHECK(message_of([&] { cf::post_training_transformation<double>(cf::rank_transform<double>(reference), {0.5, 0.0}); }) ==
        "tessera::conformal::post_training_transformation: sigmoid.temperature = 0; expected a finite number > 0");
}

TEST_CASE("PTT shrinks RSCP+ sets from full to informative and keeps coverage under attack") {
  // Yan et al.'s finding (their abstract: without PTT the robust sets are the full label set), on
  // a mixture where it shows: classes at x_0 = -1, +1 overlap, the classifier is sharp (slope 20), eps = 0.25,
  // sigma = 0.5, N = 128, alpha = 0.1, beta = 0.001. Without PTT, Q_{alpha - 2 beta} + b_Hoef
  // exceeds 1 and the threshold is +inf: every set is full. PTT is fitted on a holdout of 500
  // points, disjoint from every calibration set, over the grid b in {0.8, 0.85, 0.9, 0.95},
  // T in {1/400, 1/100, 1/25}; it picks b = 0.9, T = 1/400 (the authors' values) and the mean
  // set size falls to about 1.67 (required: < 1.8).
  // Guarantee checked as in robust_conformal_test: coverage under the worst-case attack, averaged
  // over 30 seeds of 200 calibration and 200 test points, >= 1 - alpha - 3 standard errors
  // (standard error sd / sqrt(30) of the per-seed coverages, about 0.004).
  const double alpha = 0.1, epsilon = 0.25, separation = 1;
  const cf::smoothing_parameters smoothing{0.5, 128};
  const cf::robust_parameters robust{alpha, epsilon, 0.001, cf::monte_carlo_correction::hoeffding};
  const probit_classifier score{20.0};
  const std::vector<double> biases{0.8, 0.85, 0.9, 0.95};
  const std::vector<double> temperatures{1.0 / 400, 1.0 / 100, 1.0 / 25};
  const auto holdout = sample_mixture(500, separation, 1000, 2);
  const auto fit = cf::fit_post_training_transformation<double>(holdout.x, holdout.y, 2, score, smoothing, robust, 1000,
                                                                biases, temperatures);

  std::vector<double> coverages, sizes_with_ptt, sizes_without;
  const auto transformed = fit.transformation.transformed(score);
  for (std::uint64_t seed = 0; seed < 30; ++seed) {
    const auto calibration = sample_mixture(200, separation, seed, 0);
    const auto test = sample_mixture(200, separation, seed, 1);
    const auto attacked = attack(test, epsilon);
    cf::robust_conformal_classifier<double> with_ptt(smoothing, robust, seed), without(smoothing, robust, seed);
    with_ptt.calibrate(calibration.x, calibration.y, 2, transformed);
    without.calibrate(calibration.x, calibration.y, 2, score);
    const auto sets = with_ptt.predict(attacked, transformed);
    coverages.push_back(cf::set_coverage(sets, test.y));
    sizes_with_ptt.push_back(cf::set_sizes(sets).mean);
    sizes_without.push_back(cf::set_sizes(without.predict(attacked, score)).mean);
  }
  double mean_coverage = 0, spread = 0;
  for (double c : coverages) mean_coverage += c / 30;
  for (double c : coverages) spread += (c - mean_coverage) * (c - mean_coverage) / 29;
  const double standard_error = std::sqrt(spread / 30);
  CHECK(standard_error < 0.01);
  CHECK(mean_coverage >= 1 - alpha - 3 * standard_error);
  CHECK(*std::min_element(sizes_without.begin(), sizes_without.end()) == 2.0);
  double mean_size = 0;
  for (double s : sizes_with_ptt) mean_size += s / 30;
  CHECK(mean_size < 1.8);
}

TEST_CASE("the sigmoid chosen on the holdout is the grid's smallest mean set size, as measured directly") {
  // The grid's sizes are computed from ranked scores kept once; measuring one grid point again
  // through smooth_score_table (the same perturbations, role ptt_selection) and
  // robust_conformal_classifier must give the same number.
  const cf::smoothing_parameters smoothing{0.5, 32};
  const probit_classifier score{20.0};
  const std::vector<double> biases{0.7, 0.9};
  const std::vector<double> temperatures{1.0 / 400, 1.0 / 25};
  const auto holdout = sample_mixture(120, 1.0, 3, 2);
  for (auto correction : {cf::monte_carlo_correction::none, cf::monte_carlo_correction::empirical_bernstein}) {
    const cf::robust_parameters robust{0.1, 0.125, 0.01, correction};
    const auto fit = cf::fit_post_training_transformation<double>(holdout.x, holdout.y, 2, score, smoothing, robust, 9,
                                                                  biases, temperatures);
    REQUIRE(fit.mean_set_size.shape()[0] == 2);
    REQUIRE(fit.mean_set_size.shape()[1] == 2);
    // The first grid point (row-major) of the smallest size.
    const auto best = std::min_element(fit.mean_set_size.begin(), fit.mean_set_size.end()) - fit.mean_set_size.begin();
    const auto a_best = static_cast<std::size_t>(best) / 2, b_best = static_cast<std::size_t>(best) % 2;
    CHECK(fit.transformation.sigmoid().bias == biases[a_best]);
    CHECK(fit.transformation.sigmoid().temperature == temperatures[b_best]);
    for (std::size_t a = 0; a < 2; ++a) {
      const cf::post_training_transformation<double> ptt(fit.transformation.rank(), {biases[a], temperatures[1]});
      const bool with_variance = correction == cf::monte_carlo_correction::empirical_bernstein;
      const auto table = cf::smooth_score_table<double>(holdout.x, ptt.transformed(score), 2, smoothing, 9,
                                                        cf::noise_role::ptt_selection, 0, with_variance);
      cf::robust_conformal_classifier<double> classifier(smoothing, robust, 9);
      classifier.calibrate(table, holdout.y);
      CHECK(cf::set_sizes(classifier.predict(table)).mean == fit.mean_set_size(a, 1));
    }
  }
  // The rank transform is the empirical CDF of one perturbed base score per holdout point.
  const auto fit = cf::fit_post_training_transformation<double>(holdout.x, holdout.y, 2, score, smoothing, {}, 9,
                                                                biases, temperatures);
  std::vector<double> reference(120), scores(2), perturbed(2);
  for (std::size_t j = 0; j < 120; ++j) {
    const auto noise = cf::noise_stream(9, static_cast<std::uint32_t>(j), cf::noise_role::ptt_reference);
    for (std::uint64_t c = 0; c < 2; ++c) perturbed[c] = holdout.x(j, c) + 0.5 * tessera::normal<double>(noise, c);
    score(std::span<const double>(perturbed), std::span<double>(scores));
    reference[j] = scores[static_cast<std::size_t>(holdout.y[j])];
  }
  std::sort(reference.begin(), reference.end());
  const auto sorted = fit.transformation.rank().sorted_reference();
  CHECK(std::vector<double>(sorted.begin(), sorted.end()) == reference);
}

TEST_CASE("fitting PTT rejects a bad grid and bad holdout data") {
  const probit_classifier score{2.0};
  const auto holdout = sample_mixture(10, 1.0, 0, 2);
  const std::vector<double> good{0.9}, empty, negative{-0.1};
  auto fit = [&](const std::vector<double>& b, const std::vector<double>& t, const std::vector<std::int32_t>& y) {
    cf::fit_post_training_transformation<double>(holdout.x, y, 2, score, {0.5, 8}, {}, 0, b, t);
  };
  const std::string where = "tessera::conformal::fit_post_training_transformation: ";
  CHECK(message_of([&] { fit(empty, good, holdout.y); }) == where + "biases.size() = 0; expected >= 1");
  CHECK(message_of([&] { fit(good, negative, holdout.y); }) ==
        where + "temperatures[0] = -0.1; expected a finite number > 0");
  CHECK(message_of([&] { fit(good, good, std::vector<std::int32_t>(9, 0)); }) ==
        where + "labels.size() = 9; expected holdout_points.shape()[0] = 10");
  CHECK(message_of([&] { fit(good, good, std::vector<std::int32_t>(10, 5)); }) ==
        where + "labels[0] = 5; expected 0 <= labels[0] <= 1");
  CHECK(message_of([&] {
          cf::fit_post_training_transformation<double>(holdout.x, holdout.y, 2, score, {0.5, 8}, {0.1, 0.1, 0.2}, 0,
                                                       good, good);
        }) == "tessera::conformal::robust_conformal_classifier: beta = 0.2; expected 0 < beta < alpha / 2 = 0.05");
}
