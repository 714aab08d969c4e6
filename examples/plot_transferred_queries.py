"""
Cross-validation on transferred queries
=======================================

Rows an active learner chose are not a random sample, and a twin carries
its source's label: a plain k-fold would put a row in one fold and its twin
in another, leaking. :func:`~skactive.model_selection.transferred_queries`
returns the labelled rows (and twins) with a group-safe splitter, so that
any scikit-learn estimator can be cross-validated on the queries, here a
logistic regression trained on what a DFAL campaign labelled.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold, cross_val_score

from skactive import ActiveLearner
from skactive.datasets import load_digits_images
from skactive.model_selection import transferred_queries
from skactive.models import make_net
from skactive.strategies import DFAL

X, y = load_digits_images()
rng = np.random.RandomState(0)
order = rng.permutation(len(X))
learner = ActiveLearner(
    make_net("lenet5", image_size=8, max_epochs=30, lr=3e-3, batch_size=32), DFAL(), random_state=0
).fit(X[order[:60]], y[order[:60]])
pool, y_pool = X[order[60:1060]], y[order[60:1060]]
for _ in range(3):
    picked = learner.query(pool, n=30)
    learner.teach(pool[picked], y_pool[picked])
    pool, y_pool = np.delete(pool, picked, axis=0), np.delete(y_pool, picked)

X_train, y_train, cv = transferred_queries(learner, n_splits=5, random_state=0)
flat = X_train.reshape(len(X_train), -1)
model = LogisticRegression(max_iter=2000)
safe = cross_val_score(model, flat, y_train, cv=cv)
leaky = cross_val_score(model, flat, y_train, cv=KFold(5, shuffle=True, random_state=0))
print(f"{len(y_train)} rows (with twins): group-safe {safe.mean():.3f}, leaky {leaky.mean():.3f}")

# %%
# A leaky split scores a row against its own twin, so it usually looks better.
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.boxplot([safe, leaky])
ax.set_xticks([1, 2], ["group-safe folds", "plain k-fold"])
ax.set_ylabel("accuracy per fold")
fig.tight_layout()
