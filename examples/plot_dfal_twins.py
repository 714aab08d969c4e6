"""
DFAL and its adversarial twins
==============================

DFAL (Ducoffe & Precioso, 2018) queries the rows whose smallest DeepFool
perturbation is shortest: those nearest the decision boundary. Each queried
row comes with its *twin*, the row pushed just across the boundary, which
the learner trains on with the oracle's label. Here are a query's rows (top)
and their twins (bottom), with the DeepFool distance of each.
"""

import matplotlib.pyplot as plt
import numpy as np

from skactive import ActiveLearner
from skactive.datasets import load_digits_images
from skactive.models import make_net
from skactive.strategies import DFAL

X, y = load_digits_images()
rng = np.random.RandomState(0)
order = rng.permutation(len(X))
learner = ActiveLearner(make_net("lenet5", image_size=8, max_epochs=20), DFAL(), random_state=0)
learner.fit(X[order[:100]], y[order[:100]])
pool = X[order[100:600]]
picked = learner.query(pool, n=6)
strategy = learner.query_strategy_
twins = strategy.extras_.twins
distances = strategy.scores_[np.searchsorted(strategy.candidates_, picked)]

# %%
# The twins differ from their sources by a small, structured perturbation.
fig, axes = plt.subplots(2, 6, figsize=(9, 3.4))
for j, index in enumerate(picked):
    axes[0, j].imshow(pool[index, 0], cmap="gray", vmin=0, vmax=1)
    axes[0, j].set_title(f"d = {distances[j]:.2f}", fontsize=9)
    axes[1, j].imshow(twins[j, 0], cmap="gray", vmin=0, vmax=1)
    for row in (0, 1):
        axes[row, j].set_axis_off()
axes[0, 0].text(-4, 4, "queried", rotation=90, va="center")
axes[1, 0].text(-4, 4, "twin", rotation=90, va="center")
fig.suptitle("a DFAL query: rows nearest the boundary and their twins")
fig.tight_layout()

# %%
# Teaching the oracle's labels adds the twins to the training set.
learner.teach(pool[picked], y[order[100:600]][picked])
print(f"{len(learner.y_labeled_)} labelled rows, {len(learner.y_twins_)} twins")
