"""
A pool larger than memory
=========================

Strategies read the pool chunk by chunk, so a memory-mapped ``.npy`` works
as the pool: here 50,000 digits (the 1,797 images repeated with small
noise) are written to disk and scored by entropy through
``np.load(..., mmap_mode="r")``. The same query on the array in memory
picks the same rows. :doc:`/user_guide/scaling` measures 1,000,000 rows.
"""

import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from skactive import ActiveLearner
from skactive.datasets import load_digits_images
from skactive.models import make_net
from skactive.strategies import EntropySampling

X, y = load_digits_images()
rng = np.random.RandomState(0)
learner = ActiveLearner(
    make_net("lenet5", image_size=8, max_epochs=10), EntropySampling(), random_state=0
).fit(X[:200], y[:200])

with tempfile.TemporaryDirectory() as folder:
    path = Path(folder) / "pool.npy"
    rows = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(50_000, *X.shape[1:])
    )
    for start in range(0, len(rows), 5_000):
        block = X[rng.randint(len(X), size=5_000)]
        rows[start : start + 5_000] = np.clip(block + rng.normal(0, 0.02, block.shape), 0, 1)
    rows.flush()
    del rows
    pool = np.load(path, mmap_mode="r")
    begin = time.perf_counter()
    picked = learner.query(pool, n=10)
    seconds = time.perf_counter() - begin
    scores = learner.query_strategy_.scores_
    same = np.array_equal(picked, learner.query(np.asarray(pool), n=10))
    images = np.asarray(pool[np.sort(picked)])
    del pool
print(f"10 of 50,000 memory-mapped rows in {seconds:.1f} s; same picks in memory: {same}")

# %%
fig, axes = plt.subplots(1, 2, figsize=(8, 3), gridspec_kw={"width_ratios": [2, 3]})
axes[0].hist(scores, bins=50, color="0.6")
axes[0].set_xlabel("entropy (nats)")
axes[0].set_ylabel("rows")
axes[1].imshow(np.concatenate([im[0] for im in images], axis=1), cmap="gray")
axes[1].set_title("the 10 most uncertain rows")
axes[1].set_axis_off()
fig.tight_layout()
