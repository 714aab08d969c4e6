"""
A committee of networks
=======================

:class:`~skactive.Committee` trains several seeded networks as one
scikit-learn classifier (Beluch et al., 2018);
:class:`~skactive.strategies.QueryByCommittee` queries where the members
disagree most. The histogram shows the vote entropy over the pool: most
rows have a unanimous vote, the queried ones the most divided.
"""

import matplotlib.pyplot as plt
import numpy as np

from skactive import ActiveLearner, Committee
from skactive.datasets import load_digits_images
from skactive.models import make_net
from skactive.strategies import QueryByCommittee

X, y = load_digits_images()
rng = np.random.RandomState(0)
order = rng.permutation(len(X))
committee = Committee(make_net("lenet5", image_size=8, max_epochs=10), n_members=4, random_state=0)
learner = ActiveLearner(committee, QueryByCommittee(measure="vote_entropy"), random_state=0)
learner.fit(X[order[:60]], y[order[:60]])
pool = X[order[60:1060]]
picked = learner.query(pool, n=20)
scores = learner.query_strategy_.scores_

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.hist(scores, bins=30, color="0.7", label="pool")
chosen = scores[np.searchsorted(learner.query_strategy_.candidates_, picked)]
ax.hist(chosen, bins=30, color="C3", label="queried")
ax.set_xlabel("vote entropy of 4 LeNet-5s")
ax.set_ylabel("rows")
ax.legend()
fig.tight_layout()
