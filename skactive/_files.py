"""Files: atomic writes and the pickled-learner format, below every other module.

A saved learner is a pickle with a small header, written atomically: the data
goes to a temporary file in the same folder, is flushed to disk, and then
replaces the target in one ``os.replace``, so a crash during a save leaves
the previous file intact. :class:`~skactive.ActiveLearner` saves and loads
through here; :mod:`skactive.persistence` is the public face.
"""

from __future__ import annotations

import glob
import os
import pickle
import tempfile
import warnings
from pathlib import Path

try:  # POSIX advisory locks; elsewhere a second writer is not detected
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from skactive._version import __version__

#: The version of each kind of saved file. Every file skactive writes
#: carries ``skactive-KIND`` and its kind's version, and a change to one
#: kind's layout bumps that kind alone (a learner change no longer
#: invalidates cached pretrained weights). ``learner`` 3, ``checkpoint`` 4,
#: ``label-studio-backend`` 3 and ``weights`` 2: the campaign they hold is a
#: record of arrays and plain metadata (:mod:`skactive._record`), not a
#: pickled campaign object; ``weights`` is a ``save_weights`` folder's
#: ``meta.json`` (no pickle).
FILE_VERSIONS = {
    "learner": 3,
    "checkpoint": 4,
    "weights": 2,
    "label-studio-backend": 3,
    "pretrained weights": 2,
    "embedding": 2,
}

#: Older versions each kind still reads: the files written before campaigns
#: were records (the learner unpickles both layouts).
OLDER_VERSIONS = {
    "learner": (2,),
    "checkpoint": (3,),
    "weights": (1,),
    "label-studio-backend": (2,),
}


def readable_versions(kind: str) -> tuple:
    """The versions of ``kind`` this skactive reads: its own, then the older ones."""
    return (file_version(kind), *OLDER_VERSIONS.get(kind, ()))


#: The learner file's format name and version (``ActiveLearner.save``).
FORMAT = "skactive-learner"
FORMAT_VERSION = FILE_VERSIONS["learner"]


def file_version(kind: str) -> int:
    """The version this skactive writes and reads for files of ``kind``."""
    try:
        return FILE_VERSIONS[kind]
    except KeyError:
        raise ValueError(
            f"kind: {kind!r} is not a file kind; choose from {sorted(FILE_VERSIONS)}"
        ) from None


def atomic_write(path: Path, write) -> None:
    """Write ``path`` through ``write(stream)`` so that it is whole or untouched.

    The temporary file is named ``.<name>.<pid>.<random>.tmp``, so that
    :func:`remove_stale_temporaries` can tell a dead writer's leftovers from
    a live writer's file. The folder is synced after the rename: a save that
    returned survives a power loss.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp"
        )
    except OSError as exc:
        raise OSError(f"path: cannot save to {path}: {exc.strerror or exc}") from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
        _sync_folder(path.parent)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(f"path: cannot save to {path}: {exc.strerror or exc}") from exc
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _sync_folder(folder: Path) -> None:
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform without directory handles (Windows)
        return
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename is still atomic
    finally:
        os.close(handle)


def stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """The temporary files that interrupted atomic writes left behind.

    A writer killed between creating its temporary file and replacing the
    target leaves a full-size ``.<name>.<pid>.<random>.tmp`` beside it.
    For a file ``path``: those of that file; for a folder: those of every
    file below it. A temporary whose writer process is still alive is
    another writer's work in progress and is not listed.
    """
    path = Path(path)
    if path.is_dir():
        found = path.rglob(".*.tmp")
    else:
        found = path.parent.glob(f".{glob.escape(path.name)}.*.tmp")
    return sorted(tmp for tmp in found if tmp.is_file() and not _writer_alive(tmp))


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete :func:`stale_temporaries` of ``path``; return what was deleted."""
    removed = stale_temporaries(path)
    for tmp in removed:
        tmp.unlink(missing_ok=True)
    return removed


def _writer_alive(tmp: Path) -> bool:
    """Whether the process named in ``.<name>.<pid>.<random>.tmp`` still runs."""
    parts = tmp.name.split(".")
    pid = parts[-3] if len(parts) >= 4 else ""
    if not pid.isdigit():
        return False  # written before temporaries named their writer
    if int(pid) == os.getpid():
        return True  # another thread's save in progress (a failed save removes its own)
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True


class FileInUseError(OSError):
    """Another process holds the writer's lock of a file."""


class WriterLock:
    """One writer per file across processes: an advisory lock on ``<file>.lock``.

    Two programs saving the same file (a server and a one-shot sync) would
    overwrite each other's saves; the second to :meth:`acquire` is refused
    by name. The lock lives as long as this object (or until
    :meth:`release`), and the operating system drops it when the process
    dies, so a killed writer never blocks the next one.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self._stream = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock."""
        return self._stream is not None

    def acquire(self) -> WriterLock:
        """Take the lock, or raise :class:`FileInUseError` naming the holder's process."""
        if self._stream is not None or fcntl is None:
            return self
        try:
            self.lock_path.parent.mkdir(parents=True, exist_ok=True)
            stream = self.lock_path.open("a+")
        except OSError as exc:
            raise OSError(f"path: cannot lock {self.path}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(stream.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            stream.seek(0)
            holder = stream.read().strip() or "unknown"
            stream.close()
            raise FileInUseError(
                f"path: {self.path} is being written by another backend (process {holder}); "
                "stop it or use another file"
            ) from None
        stream.seek(0)
        stream.truncate()
        stream.write(str(os.getpid()))
        stream.flush()
        self._stream = stream
        return self

    def release(self) -> None:
        """Give the lock up (closing its file drops it)."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def save_pickle(obj, path: str | os.PathLike, *, kind: str = "learner") -> Path:
    """Pickle ``obj`` (a learner, fitted or not, or another ``kind``) to ``path`` atomically.

    ``kind`` names what the file holds, one of :data:`FILE_VERSIONS`
    (``"learner"``, the runner's ``"checkpoint"``, ...): a file of one kind
    is refused as another, and each kind has its own version.

    Returns
    -------
    path : Path
    """
    header = {"format": f"skactive-{kind}", "version": file_version(kind), "skactive": __version__}
    path = Path(path)
    atomic_write(path, lambda stream: pickle.dump((header, obj), stream, protocol=5))
    return path


def load_pickle(path: str | os.PathLike, expected: type, *, kind: str = "learner"):
    """Load a ``kind`` of file written by :func:`save_pickle`. Only for trusted files.

    Raises
    ------
    ValueError
        If the file is not a saved learner of class ``expected``, or was
        written by an incompatible format version.
    """
    versions = readable_versions(kind)
    with Path(path).open("rb") as stream:
        try:
            payload = pickle.load(stream)
        except (AttributeError, ImportError) as exc:
            raise ValueError(
                f"path: {path} refers to code that cannot be imported here ({exc}); import or "
                "install the module that defines the saved network, strategy or estimator "
                "before loading"
            ) from exc
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError) as exc:
            raise ValueError(f"path: {path} is not a saved skactive {kind} ({exc})") from exc
    if not (
        isinstance(payload, tuple)
        and len(payload) == 2
        and isinstance(payload[0], dict)
        and payload[0].get("format") == f"skactive-{kind}"
    ):
        raise ValueError(f"path: {path} is not a saved skactive {kind}")
    header, learner = payload
    if header.get("version") not in versions:
        readable = ", ".join(str(v) for v in versions)
        raise ValueError(
            f"path: {path} was saved in {kind} format version {header.get('version')} "
            f"(skactive {header.get('skactive')}); this skactive reads versions {readable}"
        )
    if not isinstance(learner, expected):
        kinds = expected if isinstance(expected, tuple) else (expected,)
        wanted = " or ".join(t.__name__ for t in kinds)
        raise ValueError(f"path: {path} holds a {type(learner).__name__}, not an {wanted}")
    _warn_other_version(header.get("skactive"), path)
    return learner


class InconsistentVersionWarning(UserWarning):
    """A learner is loaded by another skactive version than the one that saved it.

    Like scikit-learn's warning of the same name: the file loads, but its
    behaviour is only guaranteed for the version that wrote it.

    Attributes
    ----------
    original_version, current_version : str
    """

    def __init__(self, *, original_version, current_version, path):
        self.original_version = original_version
        self.current_version = current_version
        super().__init__(
            f"{path} was saved by skactive {original_version} and is loaded by skactive "
            f"{current_version}; results may differ: re-save it with this version"
        )


def _warn_other_version(saved_version, path) -> None:
    if saved_version != __version__:
        warnings.warn(
            InconsistentVersionWarning(
                original_version=saved_version, current_version=__version__, path=path
            ),
            stacklevel=3,
        )
