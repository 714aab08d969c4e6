"""Posterior samples: a stack of class probabilities per row.

A stack has shape (n_members, n_rows, n_classes). It comes from the members
of a :class:`~skactive.Committee`, from any fitted scikit-learn ensemble
that exposes ``estimators_`` (random forests, bagging, voting), or from
Monte-Carlo dropout passes of one skorch net. Disagreement strategies
(query-by-committee, BALD, Suggestive Annotation) read stacks through
:func:`posterior_source` and nothing else.
"""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from sklearn.utils.validation import check_is_fitted

from skactive import _speedups, _torch
from skactive._estimators import estimator_input
from skactive._wrappers import fitted_inner
from skactive.committee import align_member_columns


def posterior_source(estimator, *, n_samples: int | None, what: str, consistent: bool = False):
    """The object that produces stacks for ``estimator``.

    Parameters
    ----------
    estimator : fitted estimator
        A Committee or scikit-learn ensemble (alone or inside an
        ActiveLearner or a fitted search), or a skorch net with dropout.
    n_samples : int or None
        Monte-Carlo passes for a single net (at least 2; None means 10).
        Ignored for committees and ensembles.
    what : str
        The strategy's name, for error messages.
    consistent : bool, default=False
        For a single net, share each pass's dropout masks across rows
        (:class:`ConsistentMCDropoutStack`), so that sample ``k`` of every
        row comes from the same network, as joint entropies need.

    Raises
    ------
    TypeError
        If ``estimator`` is none of these; the message names it.
    ValueError
        For a single net without a dropout layer with p > 0 (every pass would agree).
    """
    inner = fitted_inner(estimator)
    members = _ensemble_members(inner)
    if members is not None:
        return MemberStack(*members)
    try:
        network = _torch.find_network(estimator, what=what)
    except TypeError:
        raise TypeError(
            f"estimator: {what} needs a skactive Committee, a fitted ensemble with "
            f"estimators_ (RandomForestClassifier, BaggingClassifier, ...), or a skorch net "
            f"with dropout layers; got {type(inner).__name__}"
        ) from None
    if not _torch.stochastic_dropout_layers(network.module):
        has_layers = any(isinstance(m, _torch.DROPOUT_TYPES) for m in network.module.modules())
        which = "only dropout layers with p = 0" if has_layers else "none"
        raise ValueError(
            f"estimator: {what} on a single net needs dropout layers with p > 0 for "
            f"Monte-Carlo sampling, and {type(network.module).__name__} has {which} (every "
            "pass would agree and every score would be 0); set a dropout rate (e.g. "
            "module__dropout=0.5) or use a Committee of nets instead"
        )
    n_samples = 10 if n_samples is None else int(n_samples)
    if consistent:
        return ConsistentMCDropoutStack(network, n_samples)
    return MCDropoutStack(network, n_samples)


def _ensemble_members(estimator):
    """(members, n_classes, feature subsets) of a fitted ensemble, else None."""
    members = getattr(estimator, "estimators_", None)
    if not isinstance(members, list) or not hasattr(estimator, "classes_"):
        return None
    check_is_fitted(estimator)
    members = [m for m in members if m not in (None, "drop")]
    missing = [type(m).__name__ for m in members if not hasattr(m, "predict_proba")]
    if missing:
        raise TypeError(
            f"estimator: every member needs predict_proba, and {missing[0]} has none "
            "(for VotingClassifier use voting='soft' members, e.g. SVC(probability=True))"
        )
    features = getattr(estimator, "estimators_features_", None)
    return members, len(estimator.classes_), features


class MemberStack:
    """Stacks from the members of a committee or ensemble (picklable for joblib)."""

    is_stochastic = False

    def __init__(self, members, n_classes, features=None):
        self.members, self.n_classes, self.features = members, n_classes, features

    def networks(self) -> list:
        """The torch networks among the members (for eval-mode handling)."""
        found = []
        for member in self.members:
            with contextlib.suppress(TypeError, ValueError):
                found.append(_torch.find_network(member))
        return found

    def context(self):
        """Eval mode (and the CPU layout) for every torch member, set once around all chunks."""
        stack = contextlib.ExitStack()
        for network in self.networks():
            stack.enter_context(_torch.evaluation_mode(network.module))
            stack.enter_context(_speedups.cpu_channels_last(network.module))
        return stack

    def __call__(self, X_chunk: np.ndarray, seed: int | None = None) -> np.ndarray:
        probas = []
        for i, member in enumerate(self.members):
            rows = X_chunk
            if self.features is not None:
                rows = np.asarray(X_chunk).reshape(len(X_chunk), -1)[:, self.features[i]]
            proba = np.asarray(member.predict_proba(estimator_input(member, rows)), np.float64)
            probas.append(align_member_columns(proba, member, self.n_classes))
        return np.stack(probas)


class MCDropoutStack:
    """Stacks from Monte-Carlo dropout passes of one net, batch norm left in eval mode.

    Layers before the first dropout layer run once per batch
    (:func:`skactive._speedups.cached_deterministic_layers`); the results are
    those of running every pass in full.
    """

    is_stochastic = True

    def __init__(self, network, n_samples: int, batch_size: int | None = None):
        self.network, self.n_samples, self.batch_size = network, n_samples, batch_size

    @contextlib.contextmanager
    def context(self):
        """MC-dropout mode and the CPU layout, set once around all chunks."""
        module = self.network.module
        with _torch.mc_dropout(module), _speedups.cpu_channels_last(module):
            yield

    def __call__(self, X_chunk: np.ndarray, seed: int | None = None) -> np.ndarray:
        network = self.network
        batch = network.batch_size_for(self.batch_size)
        parts = []
        with (
            _torch.seeded(seed),
            torch.no_grad(),
            _speedups.cached_deterministic_layers(network.module),
        ):
            for start in range(0, len(X_chunk), batch):
                x = network.to_input(X_chunk[start : start + batch])
                passes = [torch.softmax(network.logits(x), dim=1) for _ in range(self.n_samples)]
                parts.append(torch.stack(passes).double().cpu())
        return torch.cat(parts, dim=1).numpy()


class ConsistentMCDropoutStack(MCDropoutStack):
    """Stacks from ``n_samples`` dropout masks fixed across rows (consistent MC dropout).

    Sample ``k`` of every row comes from the same network (one mask per
    layer, broadcast over the batch), seeded by the ``seed`` given with each
    chunk; a row's samples depend on neither its batch nor its position.
    """

    @contextlib.contextmanager
    def context(self):
        """Eval mode and the CPU layout for the whole net; hooks apply the masks per call."""
        module = self.network.module
        with _torch.evaluation_mode(module), _speedups.cpu_channels_last(module):
            yield

    def __call__(self, X_chunk: np.ndarray, seed: int | None = None) -> np.ndarray:
        network = self.network
        batch = network.batch_size_for(self.batch_size)
        dropout = _torch.ConsistentDropout(network.module, 0 if seed is None else seed)
        parts = []
        with torch.no_grad(), dropout.active():
            for start in range(0, len(X_chunk), batch):
                x = network.to_input(X_chunk[start : start + batch])
                passes = []
                for k in range(self.n_samples):
                    dropout.set_pass(k)
                    passes.append(torch.softmax(network.logits(x), dim=1))
                parts.append(torch.stack(passes).double().cpu())
        return torch.cat(parts, dim=1).numpy()
