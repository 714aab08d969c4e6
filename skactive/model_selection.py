"""Cross-validated model selection on queries transferred to another network.

The rows an active learner chose with one network can train another one
(Ducoffe & Precioso, section 4.4). Twins (DFAL's adversarial examples) are
near-copies of their source rows: if a twin lands in a training fold and
its source in the test fold, the CV score leaks. :class:`GroupedKFold`
carries the learner's groups itself, so ``GridSearchCV``,
``cross_validate`` and ``cross_val_score`` keep every twin with its source
without anybody passing ``groups=``.
"""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, StratifiedGroupKFold
from sklearn.model_selection._split import BaseCrossValidator

__all__ = ["GroupedKFold", "transferred_queries"]


class GroupedKFold(BaseCrossValidator):
    """K-fold that never separates rows of one group, groups stored up front.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Group of every row, e.g. from ``ActiveLearner.training_set()``.
        Used whenever ``split`` is called without ``groups``.
    n_splits : int, default=5
    stratify : bool, default=True
        Balance class proportions across folds (``StratifiedGroupKFold``)
        when ``y`` is given; plain ``GroupKFold`` otherwise.
    shuffle : bool, default=True
        Shuffle groups before splitting (stratified splitting only).
    random_state : int or None, default=None
        Seed of the shuffle.
    """

    def __init__(
        self,
        groups=None,
        n_splits: int = 5,
        *,
        stratify: bool = True,
        shuffle: bool = True,
        random_state=None,
    ):
        self.groups = groups
        self.n_splits = n_splits
        self.stratify = stratify
        self.shuffle = shuffle
        self.random_state = random_state

    def split(self, X, y=None, groups=None):
        """Yield ``(train, test)`` index arrays; no group is ever split."""
        groups = self._groups(X, groups)
        if self.stratify and y is not None:
            splitter = StratifiedGroupKFold(
                self.n_splits, shuffle=self.shuffle, random_state=self.random_state
            )
        else:
            splitter = GroupKFold(self.n_splits)
        yield from splitter.split(X, y, groups)

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """Number of folds."""
        return self.n_splits

    def _groups(self, X, groups) -> np.ndarray:
        groups = self.groups if groups is None else groups
        if groups is None:
            raise ValueError("groups: GroupedKFold needs groups, at construction or in split")
        groups = np.asarray(groups)
        if X is not None and len(groups) != len(X):
            raise ValueError(f"groups has {len(groups)} entries but X has {len(X)} rows")
        return groups

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover
        for _, test in self.split(X, y, groups):
            yield test


def transferred_queries(learner, *, twins: bool = True, n_splits: int = 5, random_state=None):
    """The learner's training rows and a group-safe CV splitter for them.

    Parameters
    ----------
    learner : ActiveLearner
        A fitted learner (pseudo-labels are never included).
    twins : bool, default=True
        Include the twins (each in its source's group).
    n_splits : int, default=5
    random_state : int or None

    Returns
    -------
    X, y : ndarray
    cv : GroupedKFold
        Pass it as ``cv=`` to ``GridSearchCV``, ``cross_validate`` or
        ``cross_val_score``.

    Examples
    --------
    >>> X, y, cv = transferred_queries(learner)  # doctest: +SKIP
    >>> GridSearchCV(other_net, grid, cv=cv).fit(X, y)  # doctest: +SKIP
    """
    X, y, groups = learner.training_set()
    if not twins:
        n = len(learner.y_labeled_)
        X, y, groups = X[:n], y[:n], groups[:n]
    return X, y, GroupedKFold(groups, n_splits, random_state=random_state)
