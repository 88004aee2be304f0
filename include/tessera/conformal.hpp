#pragma once
// tessera/conformal: conformal prediction for regression and classification, online and
// risk-controlling variants, and provably robust conformal prediction (RSCP+, PTT) (host
// backend). docs/conformal.md says which method to use when, with its guarantee.

#include "tessera/core.hpp"
#include "tessera/conformal/classification_score.hpp"
#include "tessera/conformal/cqr.hpp"
#include "tessera/conformal/cross_conformal.hpp"
#include "tessera/conformal/interval.hpp"
#include "tessera/conformal/metrics.hpp"
#include "tessera/conformal/p_values.hpp"
#include "tessera/conformal/quantile.hpp"
#include "tessera/conformal/split_classifier.hpp"
#include "tessera/conformal/split_regressor.hpp"
#include "tessera/conformal/adaptive_conformal.hpp"
#include "tessera/conformal/enbpi.hpp"
#include "tessera/conformal/risk_control.hpp"
#include "tessera/conformal/randomized_smoothing.hpp"
#include "tessera/conformal/robust_conformal.hpp"
#include "tessera/conformal/post_training_transformation.hpp"
