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

from skactive._validation import row_key

__all__ = ["GroupedKFold", "transferred_queries"]


class GroupedKFold(BaseCrossValidator):
    """K-fold that never separates rows of one group, groups stored up front.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        Group of every row, e.g. from ``ActiveLearner.training_set()``.
        Used whenever ``split`` is called without ``groups``.
    n_splits : int, default=5
    rows : array-like of shape (n_samples, ...), default=None
        The rows ``groups`` belong to. When given, ``split`` finds the group
        of each row of ``X`` by its content, so the splitter also works on a
        subset of the rows: as the inner ``cv`` of a ``GridSearchCV`` that
        is itself cross-validated (nested CV), where the search only sees
        the outer training fold. Without ``rows``, ``X`` must be the full
        set (or ``groups`` passed to ``split``).
    stratify : bool, default=True
        Balance class proportions across folds (``StratifiedGroupKFold``)
        when ``y`` is given; plain ``GroupKFold`` otherwise.
    shuffle : bool, default=True
        Shuffle groups before splitting (stratified splitting only).
    random_state : int or None, default=None
        Seed of the shuffle.

    Examples
    --------
    Nested CV on transferred queries, no group split at either level:

    >>> X, y, cv = transferred_queries(learner)  # doctest: +SKIP
    >>> search = GridSearchCV(other_net, grid, cv=cv)  # doctest: +SKIP
    >>> cross_val_score(search, X, y, cv=cv)  # doctest: +SKIP
    """

    def __init__(
        self,
        groups=None,
        n_splits: int = 5,
        *,
        rows=None,
        stratify: bool = True,
        shuffle: bool = True,
        random_state=None,
    ):
        self.groups = groups
        self.n_splits = n_splits
        self.rows = rows
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
        if groups is not None:
            groups = np.asarray(groups)
        elif self.groups is None:
            raise ValueError("groups: GroupedKFold needs groups, at construction or in split")
        elif self.rows is not None and X is not None:
            groups = self._groups_by_content(np.asarray(X))
        else:
            groups = np.asarray(self.groups)
        if X is not None and len(groups) != len(X):
            raise ValueError(
                f"groups has {len(groups)} entries but X has {len(X)} rows; pass rows= to "
                "GroupedKFold (transferred_queries does) to split subsets such as the "
                "training fold of an outer cross-validation"
            )
        return groups

    def _groups_by_content(self, X: np.ndarray) -> np.ndarray:
        stored = np.asarray(self.rows)
        if len(stored) != len(self.groups):
            raise ValueError(f"rows has {len(stored)} entries but groups has {len(self.groups)}")
        group_of = dict(zip(map(row_key, stored), np.asarray(self.groups), strict=True))
        try:
            return np.array([group_of[row_key(row)] for row in X])
        except KeyError:
            raise ValueError(
                "X holds rows that are not among the rows this GroupedKFold was built "
                "with, so their groups are unknown"
            ) from None

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
        ``cross_val_score``, or to both levels of a nested CV: it knows the
        group of every row by content.

    Examples
    --------
    >>> X, y, cv = transferred_queries(learner)  # doctest: +SKIP
    >>> GridSearchCV(other_net, grid, cv=cv).fit(X, y)  # doctest: +SKIP
    """
    X, y, groups = learner.training_set()
    if not twins:
        n = len(learner.y_labeled_)
        X, y, groups = X[:n], y[:n], groups[:n]
    return X, y, GroupedKFold(groups, n_splits, rows=X, random_state=random_state)
