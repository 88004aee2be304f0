// `tessera conformal regress` and `tessera conformal classify`: conformal intervals and prediction
// sets from a model's outputs saved as CSV (docs/conformal.md, "From the shell").
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <tessera/conformal/cqr.hpp>
#include <tessera/conformal/cross_conformal.hpp>
#include <tessera/conformal/metrics.hpp>
#include <tessera/conformal/split_classifier.hpp>
#include <tessera/conformal/split_regressor.hpp>
#include <vector>
#include <xtensor/xadapt.hpp>

#include "../data/conformal_data.hpp"
#include "cli.hpp"
#include "csv_table.hpp"

namespace tessera::cli {
namespace {

using namespace tessera::conformal;

struct regress_options {
  std::string method = "split";
  std::string calibration_path;
  std::string test_path;
  double alpha = 0.1;
  std::string cqr = "symmetric";
};

struct classify_options {
  std::string score = "lac";
  std::string calibration_path;
  std::string test_path;
  double alpha = 0.1;
  std::uint64_t seed = 0;
  int k_reg = 1;
  double lambda = 0.01;
  bool deterministic = false;
  bool class_conditional = false;
  bool renormalize = false;
};

[[noreturn]] void bad(const std::string& message) { throw usage_error("tessera conformal: " + message); }

// The per-model test predictions of a cross-conformal method: columns pred_0, pred_1, ... when the
// file has them, else the single column pred standing for every model.
std::vector<std::span<const double>> model_predictions(const csv_table& test, std::size_t models) {
  std::vector<std::span<const double>> columns;
  if (!test.has("pred_0")) return std::vector<std::span<const double>>(models, test.column("pred"));
  for (std::size_t k = 0; k < models; ++k) columns.push_back(test.column("pred_" + std::to_string(k)));
  return columns;
}

// The model that held out each calibration row: the `model` column (CV+: the fold), or the row
// itself (jackknife+: n leave-one-out models).
std::vector<std::size_t> held_out_model(const csv_table& calibration, bool per_row_default) {
  std::vector<std::size_t> model(calibration.rows());
  if (!calibration.has("model")) {
    if (!per_row_default)
      bad(calibration.path() + ": cv-plus needs a column 'model' naming each row's fold (0, 1, ...)");
    for (std::size_t i = 0; i < model.size(); ++i) model[i] = i;
    return model;
  }
  const auto column = calibration.column("model");
  for (std::size_t i = 0; i < model.size(); ++i) {
    if (!(column[i] >= 0 && column[i] == std::floor(column[i]) && column[i] < 1e9))
      bad(calibration.path() + ": model[" + std::to_string(i) + "] = " + std::to_string(column[i]) +
          "; expected an integer >= 0");
    model[i] = static_cast<std::size_t>(column[i]);
  }
  return model;
}

std::vector<interval<double>> cross_intervals(const csv_table& calibration, const csv_table& test,
                                              double alpha, bool jackknife) {
  const auto y = calibration.column("y");
  const auto held_out_prediction = calibration.column("pred");
  const auto model = held_out_model(calibration, jackknife);
  std::vector<double> residuals(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) residuals[i] = std::abs(y[i] - held_out_prediction[i]);
  const std::size_t models = *std::max_element(model.begin(), model.end()) + 1;
  const auto predictions = model_predictions(test, models);
  std::vector<double> at_point(y.size());
  std::vector<interval<double>> intervals(test.rows());
  for (std::size_t j = 0; j < test.rows(); ++j) {
    for (std::size_t i = 0; i < y.size(); ++i) at_point[i] = predictions[model[i]][j];
    intervals[j] = plus_interval<double>(at_point, residuals, alpha);
  }
  return intervals;
}

nlohmann::json interval_array(const std::vector<interval<double>>& intervals) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& i : intervals) out.push_back({json_number(i.lower), json_number(i.upper)});
  return out;
}

void run_regress(const context& ctx, const regress_options& o) {
  const csv_table calibration = csv_table::read(o.calibration_path);
  const csv_table test = csv_table::read(o.test_path);
  nlohmann::json document{{"method", o.method}, {"alpha", o.alpha}, {"calibration_size", calibration.rows()}};
  std::vector<interval<double>> intervals;
  std::vector<double> centre;
  if (o.method == "split") {
    const split_conformal_regressor<double> split(calibration.column("y"), calibration.column("pred"), o.alpha);
    intervals = split.predict(test.column("pred"));
    document["quantile"] = json_number(split.quantile());
  } else if (o.method == "cqr") {
    if (o.cqr != "symmetric" && o.cqr != "asymmetric")
      bad("--cqr = " + o.cqr + "; expected symmetric or asymmetric");
    const auto correction = o.cqr == "symmetric" ? cqr_correction::symmetric : cqr_correction::asymmetric;
    const conformalized_quantile_regressor<double> cqr(
        calibration.column("y"), calibration.column("lower"), calibration.column("upper"), o.alpha, correction);
    intervals = cqr.predict(test.column("lower"), test.column("upper"));
    document["corrections"] = {json_number(cqr.lower_correction()), json_number(cqr.upper_correction())};
  } else if (o.method == "jackknife-plus" || o.method == "cv-plus") {
    intervals = cross_intervals(calibration, test, o.alpha, o.method == "jackknife-plus");
    document["per_model_test_predictions"] = test.has("pred_0");
  } else {
    bad("--method = " + o.method + "; expected split, cqr, jackknife-plus or cv-plus");
  }
  // The centre printed beside each interval: the test file's pred, else the midpoint of the
  // quantile predictions (CQR).
  if (test.has("pred")) {
    const auto pred = test.column("pred");
    centre.assign(pred.begin(), pred.end());
  } else {
    const auto lower = test.column("lower"), upper = test.column("upper");
    for (std::size_t j = 0; j < test.rows(); ++j) centre.push_back(0.5 * (lower[j] + upper[j]));
  }
  const size_summary widths = interval_widths<double>(intervals);
  document["mean_width"] = json_number(widths.mean);
  document["median_width"] = json_number(widths.median);
  if (test.has("y")) document["coverage"] = interval_coverage<double>(intervals, test.column("y"));
  if (ctx.format() == output_format::csv) {
    std::vector<std::vector<double>> rows;
    for (std::size_t j = 0; j < intervals.size(); ++j) rows.push_back({centre[j], intervals[j].lower, intervals[j].upper});
    print_csv({"pred", "lower", "upper"}, rows);
    return;
  }
  document["intervals"] = interval_array(intervals);
  print_json(document);
}

// The probability columns: every column but `label`.
std::vector<std::string> probability_columns(const csv_table& table) {
  std::vector<std::string> names;
  for (const auto& name : table.header())
    if (name != "label") names.push_back(name);
  if (names.empty()) bad(table.path() + ": no probability columns");
  return names;
}

std::vector<std::int32_t> labels_of(const csv_table& table, std::size_t classes) {
  const auto column = table.column("label");
  std::vector<std::int32_t> labels(column.size());
  for (std::size_t i = 0; i < column.size(); ++i) {
    if (!(column[i] >= 0 && column[i] < static_cast<double>(classes) && column[i] == std::floor(column[i])))
      bad(table.path() + ": label[" + std::to_string(i) + "] = " + std::to_string(column[i]) +
          "; expected an integer in [0, " + std::to_string(classes) + ")");
    labels[i] = static_cast<std::int32_t>(column[i]);
  }
  return labels;
}

template <class Score>
void classify_with(const context& ctx, const classify_options& o, const Score& score) {
  const csv_table calibration = csv_table::read(o.calibration_path);
  const csv_table test = csv_table::read(o.test_path);
  const auto names = probability_columns(calibration);
  const std::size_t classes = names.size();
  const std::vector<double> calibration_matrix = calibration.matrix(names);
  const std::vector<double> test_matrix = test.matrix(names);
  const auto calibration_probabilities = xt::adapt(calibration_matrix, {calibration.rows(), classes});
  const auto test_probabilities = xt::adapt(test_matrix, {test.rows(), classes});
  const std::vector<std::int32_t> labels = labels_of(calibration, classes);
  const split_classifier_options options{o.class_conditional,
                                         o.renormalize ? row_sums::renormalized : row_sums::checked};
  const split_classifier<double, Score> classifier(score, calibration_probabilities, labels, o.alpha, o.seed, options);
  const xt::xtensor<bool, 2> sets = classifier.predict(test_probabilities);

  nlohmann::json document{{"score", o.score}, {"alpha", o.alpha}, {"calibration_size", calibration.rows()},
                          {"classes", classes}};
  nlohmann::json thresholds = nlohmann::json::array();
  for (const double q : classifier.thresholds()) thresholds.push_back(json_number(q));
  document["thresholds"] = thresholds;
  const set_size_summary sizes = set_sizes(sets);
  document["mean_size"] = sizes.mean;
  document["empty_fraction"] = sizes.empty_fraction;
  if (test.has("label")) document["coverage"] = set_coverage(sets, labels_of(test, classes));
  if (ctx.format() == output_format::csv) {
    std::vector<std::string> header;
    for (const auto& name : names) header.push_back("in_" + name);
    std::vector<std::vector<double>> rows(test.rows(), std::vector<double>(classes));
    for (std::size_t j = 0; j < test.rows(); ++j)
      for (std::size_t k = 0; k < classes; ++k) rows[j][k] = sets(j, k) ? 1 : 0;
    print_csv(header, rows);
    return;
  }
  nlohmann::json set_list = nlohmann::json::array();
  for (std::size_t j = 0; j < test.rows(); ++j) {
    nlohmann::json members = nlohmann::json::array();
    for (std::size_t k = 0; k < classes; ++k)
      if (sets(j, k)) members.push_back(k);
    set_list.push_back(members);
  }
  document["sets"] = set_list;
  print_json(document);
}

void run_classify(const context& ctx, const classify_options& o) {
  const bool randomized = !o.deterministic;
  if (o.score == "lac") return classify_with(ctx, o, lac_score{});
  if (o.score == "aps") return classify_with(ctx, o, aps_score{randomized});
  if (o.score == "raps") return classify_with(ctx, o, raps_score{o.k_reg, o.lambda, randomized});
  if (o.score == "top-k") return classify_with(ctx, o, top_k_score{});
  bad("--score = " + o.score + "; expected lac, aps, raps or top-k");
}

// The tour: split conformal, CQR and APS on the embedded diabetes and digits outputs, half of
// the rows calibrating and half testing.
void tour(std::ostream& out) {
  using tessera::examples::diabetes;
  using tessera::examples::diabetes_rows;
  constexpr std::size_t half = diabetes_rows / 2;
  std::vector<double> y(diabetes_rows), pred(diabetes_rows), lower(diabetes_rows), upper(diabetes_rows);
  for (std::size_t i = 0; i < diabetes_rows; ++i) {
    y[i] = diabetes[4 * i];
    pred[i] = diabetes[4 * i + 1];
    lower[i] = diabetes[4 * i + 2];
    upper[i] = diabetes[4 * i + 3];
  }
  const auto first = [](const std::vector<double>& v) { return std::span<const double>(v).first(half); };
  const auto rest = [](const std::vector<double>& v) { return std::span<const double>(v).subspan(half); };
  const split_conformal_regressor<double> split(first(y), first(pred), 0.1);
  const auto split_intervals = split.predict(rest(pred));
  const conformalized_quantile_regressor<double> cqr(first(y), first(lower), first(upper), 0.1);
  const auto cqr_intervals = cqr.predict(rest(lower), rest(upper));
  out << "  diabetes (442 patients), alpha = 0.1, " << half << " calibration / " << diabetes_rows - half << " test rows\n"
      << "    split conformal: coverage " << interval_coverage<double>(split_intervals, rest(y))
      << ", mean width " << interval_widths<double>(split_intervals).mean << '\n'
      << "    CQR:             coverage " << interval_coverage<double>(cqr_intervals, rest(y))
      << ", mean width " << interval_widths<double>(cqr_intervals).mean << '\n';

  using tessera::examples::digits;
  using tessera::examples::digits_rows;
  constexpr std::size_t classes = 10;
  const std::size_t calibration_rows = digits_rows / 2, test_rows = digits_rows - calibration_rows;
  std::vector<double> calibration_p, test_p;
  std::vector<std::int32_t> calibration_labels, test_labels;
  for (std::size_t i = 0; i < digits_rows; ++i) {
    auto& p = i < calibration_rows ? calibration_p : test_p;
    p.insert(p.end(), digits + 11 * i, digits + 11 * i + classes);
    (i < calibration_rows ? calibration_labels : test_labels).push_back(static_cast<std::int32_t>(digits[11 * i + classes]));
  }
  const auto calibration_matrix = xt::adapt(calibration_p, {calibration_rows, classes});
  const auto test_matrix = xt::adapt(test_p, {test_rows, classes});
  out << "  digits (1797 images, 10 classes), alpha = 0.1\n";
  const auto report = [&](const char* name, const auto& score) {
    const split_classifier<double, std::decay_t<decltype(score)>> classifier(score, calibration_matrix, calibration_labels, 0.1, 7);
    const auto sets = classifier.predict(test_matrix);
    out << "    " << name << " coverage " << set_coverage(sets, test_labels) << ", mean set size "
        << set_sizes(sets).mean << '\n';
  };
  report("LAC: ", lac_score{});
  report("APS: ", aps_score{true});
  report("RAPS:", raps_score{1, 0.01, true});
}

}  // namespace

void add_conformal_command(CLI::App& app, context& ctx) {
  CLI::App* conformal = app.add_subcommand("conformal", "Conformal prediction intervals and sets from saved model outputs");
  conformal->require_subcommand(1);

  auto regress = std::make_shared<regress_options>();
  CLI::App* r = conformal->add_subcommand(
      "regress", "Intervals: calibration CSV y,pred (cqr: y,lower,upper); test CSV pred (cqr: lower,upper), y optional");
  r->add_option("--method", regress->method, "split, cqr, jackknife-plus or cv-plus")->capture_default_str();
  r->add_option("--calib", regress->calibration_path, "Calibration CSV (jackknife-plus/cv-plus: held-out pred, and cv-plus a 'model' column: the fold)")->required();
  r->add_option("--test", regress->test_path, "Test CSV (jackknife-plus/cv-plus: optional pred_0, pred_1, ... per model)")->required();
  r->add_option("--alpha", regress->alpha, "Miscoverage level in (0, 1)")->capture_default_str();
  r->add_option("--cqr", regress->cqr, "CQR correction: symmetric or asymmetric")->capture_default_str();
  r->callback([&ctx, regress] { run_regress(ctx, *regress); });

  auto classify = std::make_shared<classify_options>();
  CLI::App* c = conformal->add_subcommand(
      "classify", "Prediction sets: CSVs of class probabilities plus a 'label' column (optional in the test file)");
  c->add_option("--score", classify->score, "lac, aps, raps or top-k")->capture_default_str();
  c->add_option("--calib", classify->calibration_path, "Calibration CSV")->required();
  c->add_option("--test", classify->test_path, "Test CSV")->required();
  c->add_option("--alpha", classify->alpha, "Miscoverage level in (0, 1)")->capture_default_str();
  c->add_option("--seed", classify->seed, "Seed of the randomized scores' uniform draws")->capture_default_str();
  c->add_option("--k-reg", classify->k_reg, "RAPS: ranks penalized beyond this one")->capture_default_str();
  c->add_option("--lambda", classify->lambda, "RAPS: penalty per rank")->capture_default_str();
  c->add_flag("--deterministic", classify->deterministic, "APS/RAPS without the uniform draw");
  c->add_flag("--class-conditional", classify->class_conditional, "One threshold per class (Mondrian)");
  c->add_flag("--renormalize", classify->renormalize, "Divide rows by their sum instead of refusing rows off 1");
  c->callback([&ctx, classify] { run_classify(ctx, *classify); });

  ctx.tour.push_back({"conformal", "split conformal, CQR, LAC/APS/RAPS sets on real data", tour});
}

}  // namespace tessera::cli
