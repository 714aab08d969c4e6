"""Labelling with Label Studio: an ML backend and a poller around an ActiveLearner.

Label Studio (https://labelstud.io) shows tasks to annotators; skactive
orders them and learns from each answer. Start a server with
``python -m skactive serve --learner campaign.skactive``, connect it in the
project's settings (Model), turn on "Uncertainty sampling", and label; or
run ``python -m skactive label-studio sync`` to exchange annotations and
predictions through Label Studio's REST API. See the user guide page
"Labelling with Label Studio". Needs the ``label-studio`` extra (Flask,
Pillow, requests); Label Studio itself runs in its own environment.
"""

from skactive.label_studio.app import make_app, serve
from skactive.label_studio.backend import AnnotationError, LabelStudioBackend, load_backend
from skactive.label_studio.config import LabelConfig, parse_label_config
from skactive.label_studio.poller import UNCERTAINTY_SAMPLING, LabelStudioClient, SyncReport, sync
from skactive.label_studio.tasks import ImageTransform, TaskError, TaskReader

__all__ = [
    "UNCERTAINTY_SAMPLING",
    "AnnotationError",
    "ImageTransform",
    "LabelConfig",
    "LabelStudioBackend",
    "LabelStudioClient",
    "SyncReport",
    "TaskError",
    "TaskReader",
    "load_backend",
    "make_app",
    "parse_label_config",
    "serve",
    "sync",
]
