"""Robust accuracy: known answers, behind a scaler, in cross-validation."""

import numpy as np
import pytest
from sklearn.model_selection import cross_val_score

from skactive import ActiveLearner
from skactive.metrics import robust_accuracy, robust_accuracy_scorer

from .conftest import tiny_net


def test_robust_accuracy_never_exceeds_clean_accuracy(trained):
    net, X, y = trained
    clean = net.score(X, y)
    assert robust_accuracy(net, X, y, eps=0.0, n_steps=2) == pytest.approx(clean)
    fgsm_acc = robust_accuracy(net, X, y, eps=0.1, attack="fgsm")
    pgd_acc = robust_accuracy(net, X, y, eps=0.1, n_steps=20, random_state=0)
    assert pgd_acc <= fgsm_acc + 0.02 and fgsm_acc < clean
    assert pgd_acc < clean - 0.2


def test_robust_accuracy_scorer_works_in_cross_validation(digits_split):
    X_pool, y_pool = digits_split[2:4]
    X, y = X_pool[:200], y_pool[:200]
    scores = cross_val_score(
        tiny_net(max_epochs=3), X, y, cv=2, scoring=robust_accuracy_scorer(eps=0.05, n_steps=3)
    )
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))


def test_eps_zero_is_the_clean_accuracy_behind_a_scaler(digits_split):
    # The default clip bounds pixels; behind a StandardScaler the net's inputs
    # are not pixels, and clipping them to [0, 1] would change the predictions.
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler

    X_init, y_init, X_pool, y_pool, X_test, y_test = digits_split
    flat = FunctionTransformer(lambda X: X.reshape(len(X), -1))
    scaled = FunctionTransformer(lambda X: X.reshape(len(X), 1, 8, 8))
    pipe = make_pipeline(flat, StandardScaler(), scaled, tiny_net(max_epochs=10))
    learner = ActiveLearner(pipe, random_state=0).fit(
        np.concatenate([X_init, X_pool]), np.concatenate([y_init, y_pool])
    )
    clean = learner.score(X_test, y_test)
    assert robust_accuracy(learner, X_test, y_test, eps=0.0, n_steps=1) == pytest.approx(clean)
    scorer = robust_accuracy_scorer(eps=0.0, n_steps=1)
    assert scorer(learner, X_test, y_test) == pytest.approx(clean)
    # The old default, clipping the scaled inputs, gives another number.
    clipped = robust_accuracy(learner, X_test, y_test, eps=0.0, n_steps=1, clip=(0.0, 1.0))
    assert clipped != pytest.approx(clean)


@pytest.mark.parametrize(
    "params, message",
    [
        ({"n_steps": 0}, "n_steps must be a positive integer, got 0"),
        ({"clip": "pixels"}, "clip must be 'auto', None or a pair"),
    ],
)
def test_bad_robust_accuracy_parameters(trained, params, message):
    net, X, y = trained
    with pytest.raises(ValueError, match=message):
        robust_accuracy(net, X, y, eps=0.1, **params)
