#!/usr/bin/env python3
"""Python anchors for bench/conformal: MAPIE's split conformal regression and its LAC/APS
prediction sets, timed on the shapes bench/conformal/*_bench.cpp use (one core: run with
OMP_NUM_THREADS=1).

The models are "prefit" stand-ins that return precomputed predictions, so only conformal work is
timed, on both sides: calibration (scores and the quantile) plus prediction on as many test points.

Prints one JSON object per line: {"name", "anchor", "seconds", "items_per_second", "compare_with"};
bench/report.py joins them with tessera's Google Benchmark results.
"""
import warnings

import mapie
import numpy as np
from mapie.classification import SplitConformalClassifier
from mapie.regression import SplitConformalRegressor
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from timing import best_of, emit

warnings.filterwarnings("ignore")


class PrecomputedRegressor(RegressorMixin, BaseEstimator):
    """A fitted regressor whose prediction for a row is that row's first column."""

    def fit(self, X, y):
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        return X[:, 0]


class PrecomputedClassifier(ClassifierMixin, BaseEstimator):
    """A fitted classifier whose probability row is the input row itself."""

    def __init__(self, n_classes):
        self.n_classes = n_classes

    def fit(self, X, y):
        self.classes_ = np.arange(self.n_classes)
        self.n_features_in_ = X.shape[1]
        return self

    def predict_proba(self, X):
        return X

    def predict(self, X):
        return np.argmax(X, axis=1)


def report(name, seconds, items, compare_with):
    emit(name, f"mapie {mapie.__version__}", seconds, items, compare_with)


def split_regression():
    rng = np.random.default_rng(7)
    for n in (10**4, 10**5, 10**6, 10**7):
        y = rng.standard_normal(2 * n)
        pred = (y + 0.5 * rng.standard_normal(2 * n)).reshape(-1, 1)
        model = PrecomputedRegressor().fit(pred[:1], y[:1])

        def run():
            regressor = SplitConformalRegressor(model, confidence_level=0.9, prefit=True)
            regressor.conformalize(pred[:n], y[:n])
            regressor.predict_interval(pred[n:])

        seconds = best_of(run)
        report(f"split regression, {n} calibration + {n} test", seconds, 2 * n, f"split_regression/{n}")
        # tessera's predict_into writes into a buffer the caller reuses, as batches would; MAPIE
        # has no such call, so its fresh-array time is the reference for both.
        report(f"split regression, {n} + {n}, tessera into a reused buffer", seconds, 2 * n,
               f"split_regression_into/{n}")


def random_probabilities(rng, rows, classes):
    logits = 2.0 * rng.standard_normal((rows, classes))
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def classification_sets():
    rng = np.random.default_rng(11)
    n_calib, n_test, classes = 10_000, 50_000, 1000
    calib = random_probabilities(rng, n_calib, classes)
    labels = np.array([rng.choice(classes, p=row) for row in calib])
    test = random_probabilities(rng, n_test, classes)
    model = PrecomputedClassifier(classes).fit(calib[:1], labels[:1])
    for score in ("lac", "aps"):
        def run():
            classifier = SplitConformalClassifier(model, confidence_level=0.9, prefit=True,
                                                  conformity_score=score, random_state=3)
            classifier.conformalize(calib, labels)
            classifier.predict_set(test)

        report(f"{score.upper()} sets, {n_calib} x {classes} calibration + {n_test} x {classes} test",
             best_of(run, repeats=2), n_test * classes, f"{score}_sets/{n_test}/{classes}")


if __name__ == "__main__":
    split_regression()
    classification_sets()
