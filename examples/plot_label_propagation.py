"""
Label propagation over the pool
===============================

Unlabelled rows carry information too. :func:`~skactive.semi_supervised.label_propagation`
(Iscen et al., 2019) diffuses the few known labels over a k-nearest-neighbour
graph of the rows and returns a pseudo-label and a certainty for each. On
the digits' raw pixels, with 30 labels, the pseudo-labels the propagation is
most certain of are mostly right: accuracy falls as certainty falls.
:class:`~skactive.semi_supervised.LabelPropagationNet` trains a network on
them beside the labelled rows.
"""

import matplotlib.pyplot as plt
import numpy as np

from skactive.datasets import load_digits_images
from skactive.semi_supervised import label_propagation

X, y = load_digits_images()
rng = np.random.RandomState(0)
order = rng.permutation(len(X))
known = np.concatenate([order[y[order] == k][:3] for k in range(10)])
labels = np.full(len(X), -1)
labels[known] = y[known]
pseudo, weights = label_propagation(X.reshape(len(X), -1), labels, k=15)
unknown = labels == -1
right = pseudo[unknown] == y[unknown]
print(f"pseudo-label accuracy on {unknown.sum()} unlabelled rows: {right.mean():.3f}")

# %%
ranked = np.argsort(-weights[unknown])
fractions = np.linspace(0.1, 1.0, 10)
accuracy = [right[ranked[: int(f * len(ranked))]].mean() for f in fractions]
fig, ax = plt.subplots(figsize=(5.5, 3.5))
ax.plot(100 * fractions, accuracy, marker="o")
ax.set_xlabel("most certain unlabelled rows kept (%)")
ax.set_ylabel("pseudo-label accuracy")
fig.tight_layout()
