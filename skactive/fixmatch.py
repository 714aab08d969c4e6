"""FixMatch and FlexMatch: a skorch classifier that learns from unlabelled rows too.

Consistency regularisation with confident pseudo-labels (Sohn et al.,
NeurIPS 2020): every training step takes a batch of labelled rows and
``unlabeled_ratio`` times as many unlabelled ones; the network's prediction
on a *weak* view of an unlabelled row, when confident enough, is the target
of its prediction on a *strong* view of the same row. FlexMatch (Zhang et
al., NeurIPS 2021) replaces the fixed confidence threshold by one per class,
scaled by how well the class is learnt so far, which matters most when
labels are very few.

Unlabelled rows come with label ``-1``, scikit-learn's convention, so
``ActiveLearner(semi_supervised=True)`` hands the still-unlabelled pool to
:class:`FixMatchNet` as it is.

References: K. Sohn, D. Berthelot, C.-L. Li et al., "FixMatch: Simplifying
Semi-Supervised Learning with Consistency and Confidence", NeurIPS 2020
(Algorithm 1; tau = 0.95, lambda_u = 1, mu = 7). B. Zhang, Y. Wang, W. Hou et
al., "FlexMatch: Boosting Semi-Supervised Learning with Curriculum Pseudo
Labeling", NeurIPS 2021 (equations 6-7, the warm-up, and the convex mapping
M(x) = x / (2 - x)).
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from skorch import NeuralNetClassifier
from skorch.dataset import unpack_data
from skorch.utils import to_tensor
from torch.utils.data import DataLoader, RandomSampler

from skactive import _torch
from skactive._unlabeled import UnlabeledRowsFit
from skactive._validation import check_random_state_param, draw_seed
from skactive.augmentation import strong_augmentation, views_for_rows, weak_augmentation
from skactive.nets import per_row_loss
from skactive.param_validation import (
    BOOLEAN,
    CALLABLE,
    RANDOM_STATE,
    SKLEARN_PARAMETER_CONSTRAINTS,
    integer,
    options,
    real,
)


class FixMatchNet(UnlabeledRowsFit, NeuralNetClassifier):
    """A skorch classifier trained with FixMatch (or FlexMatch) on rows labelled ``-1`` too.

    ``fit(X, y)`` with some ``y == -1`` trains for ``max_epochs`` epochs of
    ``steps_per_epoch`` steps. A step draws ``batch_size`` labelled rows (with
    replacement) and ``unlabeled_ratio * batch_size`` unlabelled rows; the
    loss is the cross-entropy of the labelled rows (their weak views when
    ``augment_labeled``) plus ``unlabeled_weight`` times the mean over the
    unlabelled rows of ``1[confidence >= threshold] * CE(strong view,
    pseudo-label)``, where the pseudo-label and its confidence are the argmax
    and maximum of the softmax on the weak view, without gradient. The three
    batches go through the network together, so batch norm sees them all.
    Without ``-1`` rows ``fit`` is the plain skorch fit.

    Parameters
    ----------
    module : torch.nn.Module class
        Returns logits (the criterion is ``CrossEntropyLoss``).
    threshold : float, default=0.95
        Confidence a weak view needs for its pseudo-label (FixMatch's tau).
    unlabeled_weight : float, default=1.0
        Weight of the unlabelled loss (lambda_u); 0 trains as the plain net
        does on the labelled rows.
    unlabeled_ratio : int, default=7
        Unlabelled rows per labelled row in a step (mu).
    steps_per_epoch : int, default=50
        Steps in an epoch (FixMatch counts steps, not passes over the
        labelled rows, which may be only a few dozen).
    thresholds : {"fixed", "flexmatch"}, default="fixed"
        ``"flexmatch"``: class ``c``'s threshold is ``threshold *
        M(beta_c)``, with ``beta_c`` the number of unlabelled rows whose last
        confident prediction was ``c``, over the largest such count or the
        number of rows not yet predicted confidently (the warm-up), and
        ``M(x) = x / (2 - x)``.
    weak, strong : callable, default=None
        ``(tensor batch, generator) -> views``; None:
        :func:`~skactive.augmentation.weak_augmentation` and
        :func:`~skactive.augmentation.strong_augmentation` for the rows'
        channels, with their value range.
    augment_labeled : bool, default=True
        Train on weak views of the labelled rows, as the paper does.
    max_unlabeled : int, default=None
        Use at most this many unlabelled rows (a random subset, fixed for
        the fit); None: all.
    random_state : int or None, default=None
        Seeds the draws of rows and views (``ActiveLearner(random_state=...)``
        sets it when left None).
    **kwargs
        Any ``NeuralNetClassifier`` parameter; ``train_split`` must be None.

    Attributes
    ----------
    unlabeled_history_ : list of dict
        Per epoch of the FixMatch fits since the last ``fit``: ``epoch`` and
        ``mask_rate``, the share of drawn unlabelled rows whose pseudo-label
        passed its threshold (also in ``history`` as ``mask_rate``).
    """

    no_split_reason = (
        "a validation split would take labelled rows from a training set that is small by design"
    )
    _parameter_constraints = SKLEARN_PARAMETER_CONSTRAINTS
    _skactive_constraints: ClassVar[dict[str, list]] = {
        "threshold": [real(0.0, 1.0)],
        "unlabeled_weight": [real(0.0)],
        "unlabeled_ratio": [integer(1)],
        "steps_per_epoch": [integer(1)],
        "thresholds": [options("fixed", "flexmatch")],
        "weak": [CALLABLE, None],
        "strong": [CALLABLE, None],
        "augment_labeled": [BOOLEAN],
        "max_unlabeled": [integer(1), None],
        "random_state": RANDOM_STATE,
    }

    def __init__(
        self,
        module,
        *args,
        threshold: float = 0.95,
        unlabeled_weight: float = 1.0,
        unlabeled_ratio: int = 7,
        steps_per_epoch: int = 50,
        thresholds: str = "fixed",
        weak=None,
        strong=None,
        augment_labeled: bool = True,
        max_unlabeled: int | None = None,
        random_state=None,
        criterion=torch.nn.CrossEntropyLoss,
        train_split=None,
        **kwargs,
    ):
        super().__init__(module, *args, criterion=criterion, train_split=train_split, **kwargs)
        self.threshold = threshold
        self.unlabeled_weight = unlabeled_weight
        self.unlabeled_ratio = unlabeled_ratio
        self.steps_per_epoch = steps_per_epoch
        self.thresholds = thresholds
        self.weak = weak
        self.strong = strong
        self.augment_labeled = augment_labeled
        self.max_unlabeled = max_unlabeled
        self.random_state = random_state

    def _fit_unlabeled(self, X, y, *, warm: bool, **fit_params):
        """FixMatch on the labelled and ``-1`` rows (see :class:`UnlabeledRowsFit`)."""
        if not warm or not hasattr(self, "unlabeled_history_"):
            self.unlabeled_history_ = []
        self._check_unlabeled_params()
        rng = check_random_state_param(self.random_state)
        labeled, unlabeled = self._rows_to_fit(y, rng)
        X = np.asarray(X)
        rows = _torch.as_tensor(
            X[unlabeled], dtype=_torch.parameter_dtype(self.module_), device=self.device
        )
        sampling = torch.Generator().manual_seed(draw_seed(rng))  # samplers draw on the CPU
        views = sampling
        if rows.device.type != "cpu":  # views are drawn where the rows are
            views = torch.Generator(device=rows.device).manual_seed(draw_seed(rng))
        weak, strong = self.weak, self.strong
        if weak is None:
            weak = views_for_rows(X, weak_augmentation, parameter="weak")
        if strong is None:
            strong = views_for_rows(X, strong_augmentation, parameter="strong")
        self._consistency = _UnlabeledState(
            rows=rows,
            predicted=np.full(len(unlabeled), -1, dtype=np.int64),
            sampling=sampling,
            views=views,
            weak=weak,
            strong=strong,
        )
        try:
            super().partial_fit(X[labeled], y[labeled], **fit_params)
        finally:
            # The pool is the fit's, not the model's: a saved net does not carry it.
            self._consistency = None
        return self

    def get_iterator(self, dataset, training=False):
        """In a FixMatch fit, ``steps_per_epoch`` labelled batches drawn with replacement."""
        state = getattr(self, "_consistency", None)
        if not training or state is None:
            return super().get_iterator(dataset, training=training)
        sampler = RandomSampler(
            dataset,
            replacement=True,
            num_samples=int(self.steps_per_epoch) * int(self.batch_size),
            generator=state.sampling,
        )
        return DataLoader(dataset, batch_size=int(self.batch_size), sampler=sampler)

    def train_step_single(self, batch, **fit_params):
        """One FixMatch step: supervised loss plus the masked consistency loss."""
        state = getattr(self, "_consistency", None)
        if state is None:
            return super().train_step_single(batch, **fit_params)
        Xi, yi = unpack_data(batch)
        x = to_tensor(Xi, device=self.device)
        target = to_tensor(yi, device=self.device).long()
        if self.augment_labeled:
            x = state.weak(x, state.views)
        self._set_training(True)
        if float(self.unlabeled_weight) == 0.0:
            y_pred = self.infer(x, **fit_params)
            loss = per_row_loss(self, y_pred, target).mean()
            loss.backward()
            return {"loss": loss, "y_pred": y_pred}
        drawn = self._draw_unlabeled(state, int(self.unlabeled_ratio) * len(x))
        u = state.rows[drawn.to(state.rows.device)]
        u_weak, u_strong = state.weak(u, state.views), state.strong(u, state.views)
        logits = self.infer(torch.cat([x, u_weak, u_strong]), **fit_params)
        y_pred, weak_logits, strong_logits = logits.split([len(x), len(u), len(u)])
        supervised = per_row_loss(self, y_pred, target).mean()
        with torch.no_grad():
            confidence, pseudo = torch.softmax(weak_logits.float(), dim=1).max(dim=1)
        mask = self._confident(confidence, pseudo, drawn.numpy(), state, logits.shape[1])
        consistency = (per_row_loss(self, strong_logits, pseudo) * mask).mean()
        loss = supervised + float(self.unlabeled_weight) * consistency
        loss.backward()
        state.masked += float(mask.sum())
        state.seen += len(mask)
        return {"loss": loss, "y_pred": y_pred}

    def _draw_unlabeled(self, state, n: int) -> torch.Tensor:
        """Positions of ``n`` unlabelled rows, drawn with replacement."""
        return torch.randint(len(state.rows), (n,), generator=state.sampling)

    def _confident(self, confidence, pseudo, drawn, state, n_classes: int) -> torch.Tensor:
        """1 where a pseudo-label counts, else 0 (FixMatch's or FlexMatch's thresholds)."""
        tau = float(self.threshold)
        if self.thresholds == "fixed":
            return (confidence >= tau).to(confidence.dtype)
        # FlexMatch's learning status counts predictions above the fixed tau.
        above = (confidence >= tau).cpu().numpy()
        state.predicted[drawn[above]] = pseudo.cpu().numpy()[above]
        thresholds = torch.as_tensor(
            flexmatch_thresholds(state.predicted, n_classes, tau),
            dtype=confidence.dtype,
            device=confidence.device,
        )
        return (confidence >= thresholds[pseudo]).to(confidence.dtype)

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Record the share of unlabelled rows that passed their threshold this epoch."""
        super().on_epoch_end(net, dataset_train, dataset_valid, **kwargs)
        state = getattr(self, "_consistency", None)
        if state is not None and state.seen:
            rate = state.masked / state.seen
            self.history.record("mask_rate", rate)
            self.unlabeled_history_.append({"epoch": len(self.history), "mask_rate": rate})
            state.masked, state.seen = 0.0, 0


def flexmatch_thresholds(predicted: np.ndarray, n_classes: int, threshold: float) -> np.ndarray:
    """FlexMatch's per-class thresholds from the last confident prediction of every row.

    Parameters
    ----------
    predicted : ndarray of int, shape (n_unlabeled,)
        Class of each unlabelled row's last prediction above ``threshold``;
        -1 for a row never predicted confidently.
    n_classes : int
    threshold : float
        The fixed threshold tau.

    Returns
    -------
    thresholds : ndarray of shape (n_classes,)
        ``threshold * M(beta_c)``, ``beta_c = sigma_c / max(max_c sigma_c,
        n_unused)``, ``M(x) = x / (2 - x)`` (the warm-up form: while most
        rows are unused every class starts from a low threshold).

    Examples
    --------
    >>> flexmatch_thresholds(np.array([0, 0, 1, -1]), 2, 0.9).round(3)
    array([0.9, 0.3])
    """
    counts = np.bincount(predicted[predicted >= 0], minlength=n_classes)[:n_classes]
    unused = int(np.sum(predicted < 0))
    beta = counts / max(int(counts.max(initial=0)), unused, 1)
    return threshold * beta / (2.0 - beta)


class _UnlabeledState:
    """What a FixMatch fit carries between its steps (not part of the fitted model)."""

    def __init__(self, rows, predicted, sampling, views, weak, strong):
        # ``sampling`` (CPU) draws rows; ``views`` (on the rows' device) draws
        # the augmentations: one generator when both are on the CPU.
        self.rows, self.predicted = rows, predicted
        self.sampling, self.views = sampling, views
        self.weak, self.strong = weak, strong
        self.masked, self.seen = 0.0, 0


__all__ = ["FixMatchNet", "flexmatch_thresholds"]
