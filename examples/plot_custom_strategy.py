"""
Writing your own strategy
=========================

A strategy is a :class:`~skactive.QueryStrategy` subclass: store the
parameters in ``__init__`` (scikit-learn rules), declare what each accepts,
and score rows in ``score_rows`` (one number per row; larger is queried first).
Built on :class:`~skactive.strategies.EntropySampling`, ``score_rows`` receives
the model's probability function, whatever the model (a skorch net, a
pipeline, a committee, any scikit-learn classifier).
The conformance suite (:func:`~skactive.utils.check_strategy`) then checks
the contract every exported strategy meets: distinct indices, scores aligned
with candidates and following a permuted pool, eval mode while scoring,
the learner unchanged after an error, clean parameters, and a campaign
through :class:`~skactive.ActiveLearner`.

Here: "confusion", one minus the gap between the two largest probabilities
divided by their sum (a made-up measure, for illustration).
"""

from typing import ClassVar

import matplotlib.pyplot as plt
import numpy as np

from skactive.param_validation import real
from skactive.strategies import EntropySampling
from skactive.utils import check_strategy


class Confusion(EntropySampling):
    """Query rows whose two most likely classes are nearly tied."""

    # Only the new parameter: the shared ones are declared by the base classes.
    _skactive_constraints: ClassVar[dict] = {"eps": [real(low=0, low_open=True)]}

    def __init__(
        self,
        eps=1e-12,
        *,
        candidates=None,
        chunk_size=None,
        batch_size=None,
        n_jobs=None,
        random_state=None,
    ):
        super().__init__(
            candidates=candidates,
            chunk_size=chunk_size,
            batch_size=batch_size,
            n_jobs=n_jobs,
            random_state=random_state,
        )
        self.eps = eps

    def score_rows(self, proba_fn, X_chunk):
        proba = np.sort(proba_fn(X_chunk), axis=1)
        top, second = proba[:, -1], proba[:, -2]
        return 1.0 - (top - second) / (top + second + self.eps)


# %%
# Every check reports "passed" (a failing one raises, naming the check).
results = check_strategy(Confusion())
print(f"{sum(v == 'passed' for v in results.values())} of {len(results)} checks passed")

# %%
# The score on a grid of two-class probabilities: ties score 1.
p = np.linspace(0, 1, 101)
proba = np.column_stack([p, 1 - p])
scores = Confusion().score_rows(lambda rows: rows, proba)
fig, ax = plt.subplots(figsize=(5, 3))
ax.plot(p, scores)
ax.set_xlabel("probability of class 0")
ax.set_ylabel("confusion score")
fig.tight_layout()
