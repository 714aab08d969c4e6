"""Sphinx configuration for skactive.

The site uses pydata-sphinx-theme (the scikit-learn look), a sphinx-gallery
of examples executed at every build (a broken example fails the build), an
API reference generated from the docstrings (autosummary, one page per
object) and a command-line reference printed from the argparse parsers
themselves, so that none of them can drift from the code.
"""

import os
import sys
from pathlib import Path

import skactive

HERE = Path(__file__).resolve().parent

# autosummary writes a page per documented name and never removes one: a
# page of a name that moved (skactive.registry) would fail the -W build.
for stale in (HERE / "generated").glob("*.rst"):
    stale.unlink()

project = "skactive"
author = "the skactive developers"
release = skactive.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_gallery.gen_gallery",
]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
# scikit-learn adds set_*_request methods (metadata routing) to every estimator
# class; they are scikit-learn's to document.
_ROUTING = (
    "fit",
    "partial_fit",
    "predict",
    "predict_proba",
    "predict_log_proba",
    "score",
    "transform",
    "inverse_transform",
    "decision_function",
    "split",
)
autodoc_default_options = {
    "inherited-members": False,
    "exclude-members": ",".join(f"set_{name}_request" for name in _ROUTING),
}
# Attributes sections as field lists: properties are documented once, as members.
napoleon_use_ivar = True
autodoc_typehints = "none"
# The pages that hold autosummary tables, the included strategy section too
# (autosummary reads sources, not what an include brings in).
autosummary_generate = ["api.rst", "api_strategies.rst"]
# Classes document their own members; scikit-learn's inherited ones (score,
# get_params...) are documented by scikit-learn.
templates_path = ["_templates"]
exclude_patterns = [
    "_build",
    "**.ipynb_checkpoints",
    "sg_execution_times.rst",
    "api_strategies.rst",
]

html_theme = "pydata_sphinx_theme"
html_title = f"skactive {release}"
html_static_path = ["_static"]
html_css_files = ["skactive.css"]
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "header_links_before_dropdown": 7,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_sidebars = {"index": [], "getting_started": [], "results": []}

sphinx_gallery_conf = {
    "examples_dirs": str(HERE.parent / "examples"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "show_memory": False,
    "plot_gallery": "True",
}


def write_command_line_help() -> None:
    """Each command's ``--help``, as the parsers print it, for ``cli.rst`` to include."""
    from skactive.__main__ import build_parser
    from skactive.experiments.cli import demo_parser, runner_parser
    from skactive.label_studio.cli import command_parsers

    # argparse wraps to $COLUMNS: a fixed width gives the same page everywhere.
    os.environ["COLUMNS"] = "88"
    folder = HERE / "generated_cli"
    folder.mkdir(exist_ok=True)
    parsers = {
        "skactive": build_parser(),
        "demo": demo_parser(),
        "run": runner_parser(),
        **{name.replace(" ", "_"): parser for name, parser in command_parsers().items()},
    }
    for name, parser in parsers.items():
        text = parser.format_help()
        path = folder / f"{name}.txt"
        if not path.is_file() or path.read_text() != text:
            path.write_text(text)


write_command_line_help()

# The strategy section of the API reference is read from the package.
sys.path.insert(0, str(HERE))
from public_api import write_strategy_section  # noqa: E402

# Beside api.rst, so that the stubs' folder means the same from both files.
write_strategy_section(HERE / "api_strategies.rst")
