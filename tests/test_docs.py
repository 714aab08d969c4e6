"""The Sphinx documentation builds without warnings."""

import importlib
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-q",
            "-W",
            "--keep-going",
            "-b",
            "html",
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "html" / "index.html").is_file()
    # Every example of the gallery ran and has its page and thumbnail.
    examples = sorted((DOCS.parent / "examples").glob("plot_*.py"))
    assert examples
    for example in examples:
        assert (tmp_path / "html" / "auto_examples" / f"{example.stem}.html").is_file()
        assert (tmp_path / "html" / "_images" / f"sphx_glr_{example.stem}_thumb.png").is_file()
    # The command-line reference was printed by the parsers themselves.
    cli = (tmp_path / "html" / "cli.html").read_text()
    assert "--push" in cli and "--query-size" in cli and "--adversarial-training" in cli


def _api_entries() -> set[str]:
    """What docs/api.rst lists, the strategy section it includes from the package too."""
    text = (DOCS / "api.rst").read_text()
    assert ".. include:: api_strategies.rst" in text
    listed = {line.strip() for line in text.splitlines() if line.startswith("   skactive")}
    return listed | set(_public_api().strategy_entries())


def _public_api():
    sys.path.insert(0, str(DOCS))
    try:
        import public_api
    finally:
        sys.path.remove(str(DOCS))
    return public_api


def _missing_from_api(entries: set[str]) -> list[str]:
    """Public names that ``entries`` list neither by path nor through an alias."""
    documented_objects = _public_api().documented_objects
    listed = set()
    for entry in entries:
        module, _, name = entry.rpartition(".")
        listed.add(id(getattr(importlib.import_module(module), name)))
    return sorted(
        path
        for path, obj in documented_objects().items()
        if path not in entries and not (callable(obj) and id(obj) in listed)
    )


def test_every_public_name_is_in_the_api_reference():
    missing = _missing_from_api(_api_entries())
    assert not missing, f"docs/api.rst lists neither these names nor an alias: {missing}"


def test_the_api_check_reports_a_dropped_entry():
    entries = _api_entries() - {"skactive.strategies.DFAL"}
    assert _missing_from_api(entries) == [
        "skactive.strategies.DFAL",
        "skactive.strategies.dfal.DFAL",
    ]
