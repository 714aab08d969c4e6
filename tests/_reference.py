"""A straightforward per-sample DeepFool, the way most libraries write it.

One row at a time; per iteration one forward pass and one backward pass per
class. Used as the oracle for the batched routine and by
``benchmarks/bench_deepfool.py`` as the baseline loop.
"""

import numpy as np
import torch


def deepfool_one(module, x, *, max_iter=50, overshoot=0.02, norm=2, clip=None):
    """Return (perturbation norm or inf, adversarial example) for one row ``x``."""
    x = x.unsqueeze(0)
    with torch.no_grad():
        logits0 = module(x)[0]
    original = int(logits0.argmax())
    others = [k for k in logits0.argsort(descending=True).tolist() if k != original]
    r_total = torch.zeros_like(x)
    for _ in range(max_iter + 1):
        x_adv = x + (1 + overshoot) * r_total
        if clip is not None:
            x_adv = x_adv.clamp(*clip)
        x_adv = x_adv.detach().requires_grad_(True)
        logits = module(x_adv)[0]
        if int(logits.argmax()) != original:
            return float((x_adv - x).detach().flatten().norm(p=norm)), x_adv.detach()[0]
        if _ == max_iter:
            break
        grad_orig = torch.autograd.grad(logits[original], x_adv, retain_graph=True)[0]
        best, best_w = np.inf, None
        for k in others:
            grad_k = torch.autograd.grad(logits[k], x_adv, retain_graph=True)[0]
            w_k = grad_k - grad_orig
            f_k = float((logits[k] - logits[original]).detach())
            dual = 1 if norm == np.inf else 2
            pert_k = abs(f_k) / (float(w_k.flatten().norm(p=dual)) + 1e-12)
            if pert_k < best:  # the running minimum over classes
                best, best_w = pert_k, w_k
        if norm == np.inf:
            step = (best + 1e-4) * best_w.sign()
        else:
            step = (best + 1e-4) * best_w / (best_w.norm() + 1e-12)
        r_total = r_total + step
    return np.inf, x_adv.detach()[0]


def deepfool_loop(module, X, **params):
    """Per-sample DeepFool over the rows of the tensor ``X``."""
    results = [deepfool_one(module, row, **params) for row in X]
    return np.array([r[0] for r in results]), torch.stack([r[1] for r in results])
