"""Sphinx configuration for skactive."""

import skactive

project = "skactive"
author = "the skactive developers"
release = skactive.__version__
extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
]
napoleon_google_docstring = False
napoleon_numpy_docstring = True
autodoc_default_options = {"inherited-members": False}
autodoc_typehints = "none"
exclude_patterns = ["_build"]
html_theme = "alabaster"
