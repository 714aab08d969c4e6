"""
Stopping a campaign
===================

When are more labels no longer worth paying for? A stopping criterion
watches a fixed set of unlabelled rows (the *stop set*) after every round.
:class:`~skactive.stopping.StabilizingPredictions` (Bloodgood &
Vijay-Shanker, 2009) says stop once successive models agree on it (Cohen's
kappa averaged over the last rounds reaches the threshold). The campaign
below runs to its end so that the accuracy given up by stopping can be read
off (``stop_early=False``).
"""

import matplotlib.pyplot as plt
import numpy as np

from skactive import ActiveLearner
from skactive.datasets import load_digits_images
from skactive.models import make_net
from skactive.simulation import simulate
from skactive.stopping import StabilizingPredictions
from skactive.strategies import EntropySampling

X, y = load_digits_images()
rng = np.random.RandomState(0)
order = rng.permutation(len(X))
start = np.concatenate([order[y[order] == k][:3] for k in range(10)])
rest = np.setdiff1d(order, start)
pool, test = rest[:1000], rest[1000:]
learner = ActiveLearner(
    make_net("lenet5", image_size=8, max_epochs=30, lr=3e-3, batch_size=32),
    EntropySampling(),
    random_state=0,
)
records = simulate(
    learner,
    X[start],
    y[start],
    X[pool],
    y[pool],
    X[test],
    y[test],
    n_rounds=8,
    query_size=20,
    progress=False,
    stopping=StabilizingPredictions(window=2, threshold=0.8),
    stop_early=False,
)
labels = [r["n_labeled"] for r in records]
accuracy = [r["accuracy"] for r in records]
stop = next((r["n_labeled"] for r in records if r.get("stop")), None)
print("stop at", stop, "labels; final accuracy", round(accuracy[-1], 3))

# %%
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(labels, accuracy, marker="o")
if stop is not None:
    ax.axvline(stop, color="C3", linestyle="--", label=f"criterion says stop ({stop} labels)")
    ax.legend()
ax.set_xlabel("labelled images")
ax.set_ylabel("test accuracy")
fig.tight_layout()
