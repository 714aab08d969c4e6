"""DeepFool speed: per-sample loop vs the batched routine vs bare gradient cost.

Trains LeNet5 briefly on Fashion-MNIST (Debian package; digits when absent),
then scores a 2,000-row pool three ways in one run and prints:

* the speedup of ``skactive.attacks.deepfool`` over the per-sample loop that
  most deep active-learning libraries use (1 forward + 1 backward per class
  per iteration), target >= 10x on CPU;
* its ratio to the bare cost of the forward/backward passes it needed (same
  batch sizes, no DeepFool bookkeeping), target <= 1.3x;
* the Spearman rank agreement of the scores with the loop, target >= 0.99;
* the time DFAL takes to select 10 queries from an 800-row pool after
  training on 100 labels (the DFAL paper reports 126.5 s on a GPU).

Usage: ``python benchmarks/bench_deepfool.py [--pool 2000] [--device cpu]``
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skactive import ActiveLearner, _speedups, _torch  # noqa: E402
from skactive.attacks import _input_gradients, deepfool  # noqa: E402
from skactive.datasets import load_digits_images, load_fashion_mnist  # noqa: E402
from skactive.models import make_net  # noqa: E402
from skactive.strategies import DFAL  # noqa: E402
from tests._reference import deepfool_loop  # noqa: E402


def load_data():
    """Fashion-MNIST training images, or digits when the package is absent."""
    try:
        X, y = load_fashion_mnist(subset="train")
        return X, y, "fashion-mnist"
    except FileNotFoundError:
        X, y = load_digits_images()
        return X, y, "digits"


def pass_sizes(n_iter: np.ndarray, batch_size: int) -> list[tuple[int, bool]]:
    """(rows, with_backward) of every forward pass the batched run made.

    Per chunk: the initial forward; then at step i a gradient-free check of
    the rows with n_iter >= i (from step 1 on) and a forward + backward on
    the rows still unflipped (n_iter > i).
    """
    passes = []
    for start in range(0, len(n_iter), batch_size):
        chunk = n_iter[start : start + batch_size]
        passes.append((len(chunk), False))
        for i in range(int(chunk.max()) + 1):
            if i > 0:
                passes.append((int((chunk >= i).sum()), False))
            if (chunk > i).any():
                passes.append((int((chunk > i).sum()), True))
    return passes


def bare_cost(module, x, passes, n_classes) -> float:
    """Seconds for the same forward/backward passes with no DeepFool logic."""
    start = time.perf_counter()
    for rows, backward in passes:
        if not backward:
            with torch.no_grad():
                module(x[:rows])
            continue
        x_in = x[:rows].clone().requires_grad_(True)
        logits = module(x_in)
        grad_out = torch.zeros(
            (n_classes - 1, *logits.shape), dtype=logits.dtype, device=logits.device
        )
        grad_out[:, :, 0] = 1.0
        _input_gradients(logits, x_in, grad_out)
    _sync(x.device)
    return time.perf_counter() - start


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed(fn, device):
    _sync(device)
    start = time.perf_counter()
    out = fn()
    _sync(device)
    return out, time.perf_counter() - start


def paper_runtime(X, y, size, device) -> float:
    """Seconds for DFAL to pick 10 from 800 after training on 100 labels."""
    rng = np.random.RandomState(1)
    order = rng.permutation(len(X))
    init, pool = order[:100], order[100:900]
    net = make_net("lenet5", image_size=size, max_epochs=10, device=device)
    learner = ActiveLearner(net, DFAL(), random_state=0).fit(X[init], y[init])
    start = time.perf_counter()
    learner.query(X[pool], n=10)
    return time.perf_counter() - start


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=2000)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="rows per DeepFool batch (default: the library's choice)",
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    X, y, name = load_data()
    order = np.random.RandomState(0).permutation(len(X))
    train, pool = order[:1000], order[1000 : 1000 + args.pool]
    size = X.shape[-1]
    torch.manual_seed(0)
    net = make_net("lenet5", image_size=size, max_epochs=3, device=args.device)
    net.fit(X[train], y[train])
    module = net.module_.eval()
    device = next(module.parameters()).device
    X_pool = X[pool]
    x_t = torch.as_tensor(X_pool, device=device)
    n_classes = int(net.predict_proba(X_pool[:1]).shape[1])
    batch = args.batch_size or _torch.default_batch_size(device)
    print(
        f"data: {name}, pool {len(X_pool)} x {X_pool.shape[1:]}, device {device}, batch {batch}, "
        f"torch threads {torch.get_num_threads()}, torch {torch.__version__}"
    )

    deepfool(net, X_pool[:batch], batch_size=batch)  # warm-up
    result, batched_s = timed(lambda: deepfool(net, X_pool, batch_size=batch), device)
    with _speedups.cpu_channels_last(module) as nhwc:
        x_bare = x_t.contiguous(memory_format=torch.channels_last) if nhwc else x_t
        bare_s = bare_cost(module, x_bare, pass_sizes(result.n_iter, batch), n_classes)
    (loop_norms, _), loop_s = timed(lambda: deepfool_loop(module, x_t), device)

    rho = spearmanr(loop_norms, result.norms).statistic
    paper_s = paper_runtime(X, y, size, args.device)
    figures = {
        "loop_seconds": loop_s,
        "batched_seconds": batched_s,
        "bare_gradient_seconds": bare_s,
        "speedup_over_loop": loop_s / batched_s,
        "ratio_to_bare_cost": batched_s / bare_s,
        "spearman_vs_loop": rho,
        "mean_iterations": float(result.n_iter.mean()),
        "not_converged": int((~result.converged).sum()),
        "select_10_of_800_seconds": paper_s,
    }
    print(f"per-sample loop      {loop_s:8.2f} s")
    print(
        f"batched deepfool     {batched_s:8.2f} s   speedup {loop_s / batched_s:6.1f}x "
        "(target >= 10x)"
    )
    print(
        f"bare gradient passes {bare_s:8.2f} s   ratio   {batched_s / bare_s:6.2f}x "
        "(target <= 1.3x)"
    )
    print(
        f"spearman(batched, loop) = {rho:.4f} (target >= 0.99); "
        f"mean iterations {result.n_iter.mean():.2f}, not converged {figures['not_converged']}"
    )
    print(
        f"DFAL: 10 queries from 800 rows after 100 labels: {paper_s:.2f} s "
        "(paper: 126.5 s on a GPU)"
    )
    return figures


if __name__ == "__main__":
    main()
