#!/usr/bin/env bash
# Compile the lock files of each named folder's environment with uv (`make lock` runs it for every folder).
#
#   environments/lock.sh <folder>...          e.g. environments/lock.sh imsic_torch
#
# Inputs, edited by hand: environments/<folder>/requirements.txt (the top-level pins) and, where the folder has a
# CUDA variant, requirements-gpu.txt (those pins plus the CUDA builds). Outputs, never edited by hand:
#   requirements-gpu.lock  requirements-gpu.txt resolved;
#   requirements.lock      requirements.txt resolved with requirements-gpu.lock as constraints, so every package
#                          the two share (numpy, scipy, scikit-learn, ...) has one version in both.
# Every package of the environment, transitive ones included, with its exact version and the sha256 of each of its
# files on the index; env.sh installs a lock with `pip install --require-hashes --no-deps`.
# Both are resolved for Linux x86_64 and Python 3.11 (the machines the environments are made on), whatever machine
# runs this. An existing lock is kept where the pins allow (uv prefers the versions already in its output file);
# UPGRADE=1 moves every package to the newest version the pins allow.
#
# The CPU build of torch is not on PyPI (PyPI's Linux wheels of torch are the CUDA build): it comes from PyTorch's
# CPU index, and the CPU lock says so in a --find-links line, which pip reads from the lock. TORCH_CPU_WHEELS is
# where this script finds that wheel: the index page by default, or any folder or page holding the same file (its
# sha256 goes into the lock, and pip checks it against the file the lock's source serves).
set -euo pipefail
cd "$(dirname "$0")/.."
UV="${UV:-uv}"
TORCH_CPU_PAGE=https://download.pytorch.org/whl/cpu/torch/
TORCH_CPU_WHEELS="${TORCH_CPU_WHEELS:-$TORCH_CPU_PAGE}"
[ $# -gt 0 ] || { echo "usage: environments/lock.sh <folder>..." >&2; exit 2; }
common=(pip compile --quiet --generate-hashes --python-version 3.11 --python-platform x86_64-manylinux_2_28
        --custom-compile-command "make lock")
if [ "${UPGRADE:-}" = 1 ]; then common+=(--upgrade); fi

for sub in "$@"; do
  dir="environments/$sub"
  [ -f "$dir/requirements.txt" ] || { echo "lock.sh: no $dir/requirements.txt" >&2; exit 2; }
  constraints=()
  if [ -f "$dir/requirements-gpu.txt" ]; then
    "$UV" "${common[@]}" "$dir/requirements-gpu.txt" -o "$dir/requirements-gpu.lock"
    constraints=(-c "$dir/requirements-gpu.lock")
    echo "lock.sh: $dir/requirements-gpu.lock" >&2
  fi
  if grep -q '^torch==' "$dir/requirements.txt"; then
    "$UV" "${common[@]}" "${constraints[@]}" --find-links "$TORCH_CPU_WHEELS" "$dir/requirements.txt" \
      -o "$dir/requirements.lock"
    # uv writes no source line for the wheels it found through --find-links (and a local copy's path would be
    # wrong elsewhere): name PyTorch's page, the one place the lock's torch==<version>+cpu is published.
    awk -v note="# torch's CPU build: PyTorch's CPU wheels (every other package: PyPI)" \
        -v line="--find-links $TORCH_CPU_PAGE" '!done && !/^#/ { print note; print line; done = 1 } 1' \
      "$dir/requirements.lock" > "$dir/requirements.lock.tmp"
    mv "$dir/requirements.lock.tmp" "$dir/requirements.lock"
  else
    "$UV" "${common[@]}" "${constraints[@]}" "$dir/requirements.txt" -o "$dir/requirements.lock"
  fi
  echo "lock.sh: $dir/requirements.lock" >&2
done
