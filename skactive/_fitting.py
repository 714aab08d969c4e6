"""Training the wrapped estimator on a campaign's training set.

One pure step: :func:`fit_campaign` takes a campaign and an unfitted (or,
for a warm refit, copied) estimator and returns the campaign with that
estimator trained; the learner commits the result. Errors name their cause
(a network too narrow for the classes, an estimator that cannot take the
unlabelled rows' ``-1``).
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
from sklearn.base import clone
from skorch import NeuralNet

from skactive._campaign import Campaign, ClassSpace
from skactive._estimators import estimator_input, fit_encoded, prepare_for_encoded_labels
from skactive._unlabeled import UNLABELED
from skactive._wrappers import final_step


def refit_campaign(campaign: Campaign, params) -> Campaign:
    """``campaign`` with a model refitted on its training set, as the learner is set now.

    ``params`` is the learner's ``get_params(deep=False)``. A fresh clone of
    its ``estimator`` unless ``warm_start`` (then a
    copy of the campaign's model trains on); a changed ``estimator`` or a
    grown class list always starts fresh. Nothing is committed: the learner
    assigns the result.
    """
    classes = campaign.classes_for_fit(params)
    seed = campaign.base_seed_for(params)
    fresh = campaign.tracker.changed(params, "estimator")
    fresh = fresh or len(classes) != len(campaign.classes.fitted)
    warm = bool(params["warm_start"]) and not fresh
    estimator = copy.deepcopy(campaign.estimator) if warm else clone(params["estimator"])
    if warm and params["warm_epochs"] is not None:
        _train_for(estimator, params["warm_epochs"])
    campaign = replace(
        campaign,
        classes=replace(campaign.classes, classes=classes),
        seed=seed,
        tracker=campaign.tracker.marked(params, "classes", "random_state"),
    )
    fitted = fit_campaign(
        campaign, estimator, warm=warm, semi_supervised=bool(params["semi_supervised"])
    )
    return replace(fitted, tracker=fitted.tracker.marked(params, "estimator"))


def _train_for(estimator, epochs: int) -> None:
    """A warm copy's skorch net trains ``epochs`` epochs (other estimators as they are)."""
    net = final_step(estimator)
    if isinstance(net, NeuralNet):
        net.set_params(max_epochs=int(epochs))


def fit_campaign(campaign: Campaign, estimator, *, warm: bool, semi_supervised: bool) -> Campaign:
    """``campaign`` with ``estimator`` trained on its training set.

    ``warm``: a skorch net trains on with ``partial_fit``. With
    ``semi_supervised``, the still-unlabelled pool rows come along with
    label -1. Unset ``random_state`` parameters inside the estimator take
    the round's seed.
    """
    classes = campaign.classes.classes
    X, y, _ = campaign.labeled.training_set(include_pseudo=True)
    y = campaign.classes.encode(y, name="y")
    if semi_supervised:
        X, y, n_unlabeled = _with_unlabeled(campaign, X, y)
    else:
        n_unlabeled = 0
    # Checked before the fit: a refused estimator is not a failed fit.
    estimator = prepare_for_encoded_labels(estimator, len(classes))
    # Unset seeds inside the estimator (a Committee's, a forest's) follow the
    # learner's, so a seeded campaign is reproducible end to end.
    seed = campaign.round_seed("fit")
    try:
        fit_encoded(estimator, X, y, len(classes), seed=seed, reseed="unset", warm=warm)
    except Exception as exc:
        raise _fit_failure(estimator, exc, n_unlabeled, len(classes)) from exc
    if n_unlabeled:
        _check_no_unlabeled_class(estimator)
    _check_output_width(estimator, estimator_input(estimator, X[:1]), classes)
    return replace(campaign, estimator=estimator, classes=ClassSpace(classes, classes))


def _with_unlabeled(campaign: Campaign, X, y_encoded):
    """Append the still-unlabelled pool rows with label -1."""
    pool = campaign.unlabeled
    if pool is None or len(pool) == 0:
        return X, y_encoded, 0
    pool = pool.without(campaign.labeled.pseudo_X)  # a pseudo-labelled row is not unlabelled
    rows = pool.unlabeled_rows()
    X = np.concatenate([X, rows.astype(X.dtype, copy=False)])
    y = np.concatenate([y_encoded, np.full(len(rows), UNLABELED, dtype=y_encoded.dtype)])
    return X, y, len(rows)


def _fit_failure(estimator, exc: Exception, n_unlabeled: int, n_classes: int) -> Exception:
    """The error a failed fit raises: ``exc`` itself, or one that names the cause."""
    if n_unlabeled:
        return _unlabeled_refused(estimator, n_unlabeled, exc)
    if isinstance(exc, IndexError) and isinstance(final_step(estimator), NeuralNet):
        return ValueError(
            f"classes: the network could not be trained on {n_classes} "
            f"classes ({exc}); its module must output one column per class"
        )
    return exc


def _check_output_width(estimator, X_row, classes) -> None:
    if not isinstance(final_step(estimator), NeuralNet):
        return
    width = np.asarray(estimator.predict_proba(X_row)).shape[1]
    if width != len(classes):
        raise ValueError(
            f"classes: the network outputs {width} columns but the learner has "
            f"{len(classes)} classes ({classes.tolist()[:10]}); size the "
            f"module's last layer to {len(classes)} outputs, or list every "
            "possible label in ActiveLearner(classes=...)"
        )


def _unlabeled_refused(estimator, n_unlabeled: int, exc: Exception) -> ValueError:
    return ValueError(
        f"semi_supervised=True passes {n_unlabeled} unlabelled pool rows with label -1 "
        f"to {type(final_step(estimator)).__name__}.fit, which failed ({type(exc).__name__}: "
        f"{exc}); use an estimator that learns from -1 labels (SelfTrainingClassifier, "
        "skactive.semi_supervised.LabelPropagationNet) or semi_supervised=False"
    )


def _check_no_unlabeled_class(estimator) -> None:
    """Refuse an estimator that took the -1 rows for a class of their own."""
    classes = getattr(final_step(estimator), "classes_", None)
    if classes is not None and np.isin(UNLABELED, np.asarray(classes)):
        raise ValueError(
            f"semi_supervised=True: {type(final_step(estimator)).__name__} learnt the "
            "unlabelled rows' -1 as a class of its own; use an estimator that learns from "
            "-1 labels (SelfTrainingClassifier, skactive.semi_supervised.LabelPropagationNet) "
            "or semi_supervised=False"
        )
