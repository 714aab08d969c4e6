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

from skactive.label_studio.annotations import AnnotationError, Answer, TaskEntry
from skactive.label_studio.app import make_app, serve
from skactive.label_studio.backend import BackendState, LabelStudioBackend, SaveError, load_backend
from skactive.label_studio.config import LabelConfig, parse_label_config
from skactive.label_studio.credentials import Credential, CredentialError
from skactive.label_studio.ledger import Change
from skactive.label_studio.poller import (
    UNCERTAINTY_SAMPLING,
    LabelStudioClient,
    LabelStudioError,
    SyncReport,
    sync,
)
from skactive.label_studio.tasks import ImageTransform, RowCache, TaskError, TaskReader

__all__ = [
    "UNCERTAINTY_SAMPLING",
    "AnnotationError",
    "Answer",
    "BackendState",
    "Change",
    "Credential",
    "CredentialError",
    "ImageTransform",
    "LabelConfig",
    "LabelStudioBackend",
    "LabelStudioClient",
    "LabelStudioError",
    "RowCache",
    "SaveError",
    "SyncReport",
    "TaskEntry",
    "TaskError",
    "TaskReader",
    "load_backend",
    "make_app",
    "parse_label_config",
    "serve",
    "sync",
]
