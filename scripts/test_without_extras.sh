#!/usr/bin/env bash
# The test suite again in a virtualenv without the optional extras (faiss-cpu,
# dask, sphinx, flask): code paths that only run when an extra is missing (label
# propagation's scikit-learn neighbours, the serial backend) are tested too.
# Tests that need an extra are skipped, and -rs prints why.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=.venv-minimal
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
pip_install() { "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@"; }
pip_install torch==2.13.0
pip_install -e . pytest psutil
for extra in faiss dask distributed sphinx flask; do
    if "$VENV/bin/python" -c "import $extra" 2>/dev/null; then
        echo "test_without_extras: $extra is installed in $VENV; this run must not have it" >&2
        exit 1
    fi
done
"$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider "$@"
