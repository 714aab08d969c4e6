"""Ways to run a network faster that change no result beyond float rounding.

Kept apart from the torch adapter (:mod:`skactive._torch`), which decides
*what* runs where: these only make the same forward passes cheaper on the
CPU. Each is a context manager that restores the module exactly as it was,
and nested or concurrent blocks on one module share one change.
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections.abc import Callable, Iterator

import torch

_LAYOUT_LOCK = threading.Lock()
#: Module -> (active ``cached_deterministic_layers`` blocks, the wrapped layers).
_CACHED_MODULES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
#: Module -> (active ``cpu_channels_last`` blocks using it, its original tensors).
_CHANNELS_LAST_USERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


#: Leaf modules whose output in eval mode depends on their input only.
DETERMINISTIC_TYPES = (
    torch.nn.Conv1d,
    torch.nn.Conv2d,
    torch.nn.Conv3d,
    torch.nn.ConvTranspose1d,
    torch.nn.ConvTranspose2d,
    torch.nn.Linear,
    torch.nn.Bilinear,
    torch.nn.BatchNorm1d,
    torch.nn.BatchNorm2d,
    torch.nn.BatchNorm3d,
    torch.nn.LayerNorm,
    torch.nn.GroupNorm,
    torch.nn.ReLU,
    torch.nn.ReLU6,
    torch.nn.LeakyReLU,
    torch.nn.ELU,
    torch.nn.GELU,
    torch.nn.SiLU,
    torch.nn.Sigmoid,
    torch.nn.Tanh,
    torch.nn.Softmax,
    torch.nn.LogSoftmax,
    torch.nn.MaxPool1d,
    torch.nn.MaxPool2d,
    torch.nn.MaxPool3d,
    torch.nn.AvgPool1d,
    torch.nn.AvgPool2d,
    torch.nn.AvgPool3d,
    torch.nn.AdaptiveAvgPool1d,
    torch.nn.AdaptiveAvgPool2d,
    torch.nn.AdaptiveMaxPool2d,
    torch.nn.Flatten,
    torch.nn.Unflatten,
    torch.nn.Identity,
)


@contextlib.contextmanager
def cached_deterministic_layers(module: torch.nn.Module) -> Iterator[None]:
    """Reuse the output of deterministic layers whose input did not change.

    Monte-Carlo dropout runs a net many times on one batch; every layer
    before the first dropout layer then receives the very same input tensor
    in every pass. Inside this block each such leaf layer (a type in
    :data:`DETERMINISTIC_TYPES`, in eval mode) returns its previous output
    when called again with the same, unmodified input tensor, so the prefix
    of the net runs once per batch, whatever the module's structure (no
    ``nn.Sequential`` needed). Outputs are identical to running every pass
    in full. Caches are per thread; concurrent blocks on one module share
    the wrappers, which go when the last block exits (enter it inside a
    worker: the wrappers do not pickle).
    """

    def wrap():
        layers = [
            m
            for m in module.modules()
            if isinstance(m, DETERMINISTIC_TYPES) and not m.training and "forward" not in vars(m)
        ]
        cache = threading.local()
        for layer in layers:
            layer.forward = _caching_forward(layer, type(layer).forward.__get__(layer), cache)
        return layers

    def unwrap(layers):
        for layer in layers:
            del layer.forward

    with _shared_by_blocks(_CACHED_MODULES, module, wrap, unwrap):
        yield


def _caching_forward(layer, forward, cache):
    key = id(layer)

    def cached(x, *args, **kwargs):
        store = cache.__dict__.setdefault("entries", {})
        entry = store.get(key)
        if (
            not args
            and not kwargs
            and entry is not None
            and entry[0] is x
            and entry[1] == x._version
            and entry[3] == entry[2]._version
        ):
            return entry[2]
        out = forward(x, *args, **kwargs)
        if isinstance(out, torch.Tensor) and not torch.is_grad_enabled():
            store[key] = (x, x._version, out, out._version)
        return out

    return cached


@contextlib.contextmanager
def cpu_channels_last(module: torch.nn.Module) -> Iterator[bool]:
    """Run a 2-D conv net on CPU in ``channels_last`` layout, restoring it after.

    On CPU, oneDNN convolutions and their input gradients run about 25-30 %
    faster in NHWC layout (measured on LeNet5 and VGG8, torch 2.13). Nothing
    is changed for GPU modules, nets without ``Conv2d`` or nets already in
    that layout. Nested and concurrent uses (chunks scored in threads) share
    one conversion: the module goes back to its layout when the last one
    exits, never while another thread is computing with it.

    Yields
    ------
    converted : bool
        Whether inputs should be made ``channels_last`` too.
    """
    with _LAYOUT_LOCK:
        active = module in _CHANNELS_LAST_USERS
    if not active and not _should_convert(module):
        yield False
        return

    def convert():
        saved = _layout_sensitive_tensors(module)
        module.to(memory_format=torch.channels_last)
        return saved

    with _shared_by_blocks(_CHANNELS_LAST_USERS, module, convert, _restore_tensors):
        yield True


@contextlib.contextmanager
def _shared_by_blocks(registry, module, acquire: Callable, release: Callable) -> Iterator:
    """State on ``module`` shared by nested and concurrent blocks, reference-counted.

    The first block to enter calls ``acquire()`` (its result is the state);
    the last to exit calls ``release(state)``, never while another block,
    in any thread, is still inside.
    """
    with _LAYOUT_LOCK:
        users, state = registry.get(module, (0, None))
        if users == 0:
            state = acquire()
        registry[module] = (users + 1, state)
    try:
        yield state
    finally:
        with _LAYOUT_LOCK:
            users, state = registry.pop(module)
            if users > 1:
                registry[module] = (users - 1, state)
            else:
                release(state)


def _layout_sensitive_tensors(module: torch.nn.Module) -> list:
    """The 4-D and 5-D parameters and buffers that a layout change replaces."""
    saved = []
    for owner in module.modules():
        for kind in ("_parameters", "_buffers"):
            for name, tensor in getattr(owner, kind).items():
                if tensor is not None and tensor.dim() in (4, 5):
                    saved.append((owner, kind, name, tensor.data))
    return saved


def _restore_tensors(saved: list) -> None:
    # The original tensors, not a conversion back: a tensor with a size-1
    # dimension counts as contiguous in both layouts and would keep the
    # channels_last strides (and pickle differently).
    for owner, kind, name, data in saved:
        if kind == "_parameters":
            owner._parameters[name].data = data
        else:
            owner._buffers[name] = data


def _should_convert(module: torch.nn.Module) -> bool:
    weights = [m.weight for m in module.modules() if isinstance(m, torch.nn.Conv2d)]
    return (
        bool(weights)
        and weights[0].device.type == "cpu"
        and not any(
            w.is_contiguous(memory_format=torch.channels_last) and not w.is_contiguous()
            for w in weights
        )
    )
