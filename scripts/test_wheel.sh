#!/usr/bin/env bash
# Build the wheel and the sdist, install the wheel with the user-facing
# extras into a fresh virtualenv, and run the command line from it, outside
# the source tree: what someone who installs skactive gets.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
.venv/bin/python -m pip install --quiet --disable-pip-version-check build
.venv/bin/python -m build --outdir "$WORK/dist" . > "$WORK/build.log"
ls "$WORK"/dist/skactive-*.tar.gz > /dev/null  # the sdist is built too
"$PYTHON" -m venv "$WORK/venv"
PIP=("$WORK/venv/bin/python" -m pip install --quiet --disable-pip-version-check)
# torch first and pinned: the CPU build on local disk (see scripts/setup.sh).
"${PIP[@]}" torch==2.13.0
WHEEL=$(ls "$WORK"/dist/skactive-*.whl)
"${PIP[@]}" "${WHEEL}[label-studio,dask,faiss]"
cd "$WORK"  # nothing of the source tree on the path from here
venv/bin/python - <<'PY'
import skactive
assert "site-packages" in skactive.__file__, skactive.__file__
import skactive.experiments, skactive.label_studio.app  # noqa: E401,F401  the harness and Flask
print("installed:", skactive.__version__, skactive.__file__)
PY
venv/bin/python -m skactive --help > /dev/null
venv/bin/python -m skactive serve --help > /dev/null
venv/bin/python -m skactive label-studio sync --help > /dev/null
# The demo's first round, on the installed package.
venv/bin/python -m skactive demo --strategies random,dfal --seeds 1 --initial 20 \
    --query-size 10 --budget 30 --epochs 1 --no-progress --output-dir "$WORK/demo" > demo.log
test -s "$WORK/demo/digits_lenet5_learning_curves.png"
test -s "$WORK/demo/digits_lenet5_rounds.csv"
echo "wheel: installed with [label-studio,dask,faiss]; --help, serve --help, sync --help and the demo ran"
