"""Prints tests/conformal/oracles/adaptive_conformal_oracles.hpp: an ACI run of MAPIE's
TimeSeriesRegressor(method="aci") and a DtACI run of a reference transcription of its authors'
update (isgibbs/DtACI, DtACI.R), on one small series with a variance shift.

    /tmp/mapie-venv/bin/python adaptive_conformal_oracles.py > adaptive_conformal_oracles.hpp

ACI. A LinearRegression fitted on 40 rows is the prefit model; the 40 calibration residuals
|y - y_hat| fill the window (W = 40), then each of 60 test points is predicted with the current
alpha_t, MAPIE's adapt_conformal_inference updates alpha_t from the error, and update() rolls the
new residual into the window (so the window slides, as in tessera's aci). The symmetric
AbsoluteConformityScore makes MAPIE's interval y_hat -+ q with q the ceil((n + 1)(1 - alpha_t))-th
smallest residual, tessera's rule. MAPIE clips alpha_t to [0, 1] where tessera (and the paper)
does not, and counts a label on the boundary as an error; the asserts below keep the run away
from both, and from any (n + 1)(1 - alpha_t) so close to an integer that floating point could
move MAPIE's ceil.

DtACI. There is no DtACI in MAPIE. The reference below restates the authors' R function
conformalAdaptStable (experts updated by ACI, fixed-share exponential weights on the pinball
loss) with the deterministic weighted-mean output; beta_t = 1 - m / (n + 1), m = the number of
window scores below s_t, is the largest level whose set covers s_t under the window's conformal
quantile. The inputs are the ACI run's residuals.
"""
import math

import mapie
import numpy as np
import sklearn
import warnings
from mapie.conformity_scores import AbsoluteConformityScore
from mapie.regression import TimeSeriesRegressor
from sklearn.linear_model import LinearRegression

from cxx_output import cpp_array

ALPHA = 0.1
GAMMA = 0.02
N_TRAIN, N_CAL, N_TEST = 40, 40, 60
DTACI_GAMMAS = [0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128]
DTACI_SIGMA = 1.0 / 500
DTACI_ETA = 2.8


def make_series(rng):
    """y = 1 + 2 x + noise; the noise sd steps from 1 to 1.8 halfway through the test points."""
    n = N_TRAIN + N_CAL + N_TEST
    x = rng.uniform(-2.0, 2.0, size=(n, 1))
    sd = np.ones(n)
    sd[N_TRAIN + N_CAL + N_TEST // 2:] = 1.8
    y = 1.0 + 2.0 * x[:, 0] + sd * rng.standard_normal(n)
    return x, y


def run_mapie_aci(model, x_cal, y_cal, x_test, y_test):
    regressor = TimeSeriesRegressor(model, method="aci", cv="prefit",
                                    conformity_score=AbsoluteConformityScore(sym=True))
    regressor.fit(x_cal, y_cal)
    levels, lower, upper, errors = [], [], [], []
    for t in range(len(y_test)):
        x, y = x_test[t:t + 1], y_test[t:t + 1]
        _, bounds = regressor.predict(x, confidence_level=1 - ALPHA, allow_infinite_bounds=True)
        level = float(regressor.current_alpha[np.round(ALPHA, 2)])
        lo, hi = float(bounds[0, 0, 0]), float(bounds[0, 1, 0])
        # The run must stay where MAPIE and the paper agree (see the module docstring).
        assert 0 < level < 1, level
        window = N_CAL + 1
        assert abs(window * (1 - level) - round(window * (1 - level))) > 1e-9, level
        assert min(abs(y[0] - lo), abs(y[0] - hi)) > 1e-9
        levels.append(level)
        lower.append(lo)
        upper.append(hi)
        errors.append(int(not (lo < y[0] < hi)))
        regressor.adapt_conformal_inference(x, y, gamma=GAMMA, confidence_level=1 - ALPHA)
        regressor.update(x, y)
    return levels, lower, upper, errors


def pinball(beta, theta):
    u = beta - theta
    return ALPHA * u - min(0.0, u)


def run_reference_dtaci(calibration_scores, test_scores):
    """The authors' conformalAdaptStable update, weighted-mean output, on a sliding window."""
    k = len(DTACI_GAMMAS)
    experts = [ALPHA] * k
    probabilities = [1.0 / k] * k
    window = list(calibration_scores)
    levels, errors = [], []
    for s in test_scores:
        n = len(window)
        below = sum(1 for w in window if w < s)
        beta = 1.0 - below / (n + 1)
        level = sum(p * a for p, a in zip(probabilities, experts))
        # Away from beta_t the strict (authors) and non-strict (tessera) error rules agree.
        assert min(abs(a - beta) for a in experts + [level]) > 1e-12
        levels.append(level)
        errors.append(int(level > beta))
        losses = [pinball(beta, a) for a in experts]
        experts = [a + g * (ALPHA - (1 if a > beta else 0)) for a, g in zip(experts, DTACI_GAMMAS)]
        weights = [p * math.exp(-DTACI_ETA * loss) for p, loss in zip(probabilities, losses)]
        total = sum(weights)
        probabilities = [(1 - DTACI_SIGMA) * w / total + DTACI_SIGMA / k for w in weights]
        window = window[1:] + [s]
    return levels, errors, experts, probabilities


def main():
    warnings.filterwarnings("ignore")  # MAPIE warns that update() changed behaviour in 1.x
    rng = np.random.default_rng(20240612)
    x, y = make_series(rng)
    train, cal = slice(0, N_TRAIN), slice(N_TRAIN, N_TRAIN + N_CAL)
    test = slice(N_TRAIN + N_CAL, None)
    model = LinearRegression().fit(x[train], y[train])
    predictions = model.predict(x)

    levels, lower, upper, errors = run_mapie_aci(model, x[cal], y[cal], x[test], y[test])
    calibration_scores = np.abs(y[cal] - predictions[cal])
    test_scores = np.abs(y[test] - predictions[test])
    dt_levels, dt_errors, dt_experts, dt_probabilities = run_reference_dtaci(
        calibration_scores, test_scores)

    print(f"// Generated by tests/conformal/oracles/adaptive_conformal_oracles.py with MAPIE "
          f"{mapie.__version__},\n// scikit-learn {sklearn.__version__}, numpy {np.__version__}: "
          "do not edit, rerun the script.")
    print("// ACI: MAPIE's TimeSeriesRegressor(method=\"aci\", cv=\"prefit\", symmetric absolute "
          "score),\n// alpha = 0.1, gamma = 0.02, window = the 40 calibration residuals, 60 test "
          "steps.\n// DtACI: the authors' update (isgibbs/DtACI, DtACI.R) with the weighted-mean "
          "output on the\n// same residuals; gammas 0.001..0.128, sigma = 1/500, eta = 2.8.")
    print("#pragma once\n\n#include <array>\n")
    print("namespace tessera::test::adaptive_conformal_oracles {\n")
    print(f"inline constexpr double alpha = {ALPHA!r};")
    print(f"inline constexpr double gamma = {GAMMA!r};")
    print(f"inline constexpr double dtaci_sigma = {DTACI_SIGMA!r};")
    print(f"inline constexpr double dtaci_eta = {DTACI_ETA!r};")
    print(cpp_array("dtaci_gammas", DTACI_GAMMAS))
    print("\n// Inputs: the calibration residuals, the test labels and the prefit model's "
          "predictions.")
    print(cpp_array("calibration_scores", calibration_scores))
    print(cpp_array("y_test", y[test]))
    print(cpp_array("prediction_test", predictions[test]))
    print("\n// MAPIE's ACI, per test step: alpha_t before the step, the interval, and the error.")
    print(cpp_array("aci_level", levels))
    print(cpp_array("aci_lower", lower))
    print(cpp_array("aci_upper", upper))
    print(cpp_array("aci_error", errors, kind="int"))
    print("\n// The reference DtACI: output level and error per step, experts after the last step.")
    print(cpp_array("dtaci_level", dt_levels))
    print(cpp_array("dtaci_error", dt_errors, kind="int"))
    print(cpp_array("dtaci_final_expert_levels", dt_experts))
    print(cpp_array("dtaci_final_probabilities", dt_probabilities))
    print("\n}  // namespace tessera::test::adaptive_conformal_oracles")


if __name__ == "__main__":
    main()
