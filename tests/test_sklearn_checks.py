"""scikit-learn's own estimator checks on ActiveLearner(LogisticRegression())."""

from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import parametrize_with_checks

from skactive import ActiveLearner

# Checks skipped, and why:
EXPECTED_FAILED = {}


@parametrize_with_checks(
    [ActiveLearner(LogisticRegression(max_iter=200), random_state=0)],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_compatible(estimator, check):
    check(estimator)
