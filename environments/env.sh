#!/usr/bin/env bash
# Create (once) the virtual environment of a folder from its lock file and print its folder.
#
#   environments/env.sh <folder>              e.g. environments/env.sh dgc_tf
#   environments/env.sh --path <folder>       print the folder without creating anything
#   environments/env.sh --lock <folder>       print the lock file it installs from, without creating anything
#   environments/env.sh --gpu ... <folder>    the same for the CUDA variant (GPU=1 in the environment does the same,
#                                             so `make ... GPU=1` reaches every env.sh that make and the benchmark
#                                             runner call)
#
# The CPU variant installs environments/<folder>/requirements.lock, the CUDA variant requirements-gpu.lock (a folder
# without one, the benchmark runner's, has no CUDA variant: --gpu gives its CPU environment). A lock lists every
# package with its exact version and sha256 hashes, and is installed with `pip install --require-hashes --no-deps`,
# so the environment is exactly the lock; `make lock` recompiles the locks from the requirements*.txt files.
#
# The folder is $VENVS/<name>-<hash> (VENVS defaults to .venvs), <hash> taken from the lock: folders whose locks
# pin the same set (gamo_keras, dgc_tf, caleg_tf; imsic_torch, dfg_torch) share one installed environment, and a
# changed lock makes a fresh one. <name> is the framework (tf, torch; tf-cuda, torch-cuda for the CUDA variant), or
# the folder's own name for an environment with neither. An environment counts as ready only once its .ready stamp
# exists, so an interrupted install is redone from scratch rather than used half-made.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=create
gpu=0
[ "${GPU:-}" = 1 ] && gpu=1
while [ $# -gt 0 ]; do
  case "$1" in
    --path) mode=path ;;
    --lock) mode=lock ;;
    --gpu) gpu=1 ;;
    -*) echo "env.sh: unknown option $1" >&2; exit 2 ;;
    *) break ;;
  esac
  shift
done
sub="${1:?usage: environments/env.sh [--gpu] [--path|--lock] <folder>}"
req="environments/$sub/requirements.txt"
[ -f "$req" ] || { echo "env.sh: no $req (known: $(ls environments | grep -v '\.' | tr '\n' ' '))" >&2; exit 2; }
lock="environments/$sub/requirements.lock"
variant=""
if [ "$gpu" = 1 ] && [ -f "environments/$sub/requirements-gpu.lock" ]; then
  lock="environments/$sub/requirements-gpu.lock"
  variant=-cuda
fi
[ -f "$lock" ] || { echo "env.sh: no $lock (make lock compiles it from $req)" >&2; exit 2; }
if [ "$mode" = lock ]; then echo "$lock"; exit 0; fi
hash=$(grep -v '^\s*#' "$lock" | sed '/^\s*$/d' | sha256sum | cut -c1-12)
# Named by framework (tf, torch), so folders that pin the same set share one name; an environment with neither
# (the benchmark runner) is named after its folder.
if grep -q '^tensorflow==' "$req"; then kind=tf
elif grep -q '^torch==' "$req"; then kind=torch
else kind=$sub
fi
dir="${VENVS:-.venvs}/$kind$variant-$hash"
if [ "$mode" = path ]; then echo "$dir"; exit 0; fi
# Folders that share an environment may ask for it at once (make -j): one creates it, the others wait for its lock.
if [ ! -f "$dir/.ready" ] && command -v flock >/dev/null; then
  mkdir -p "$(dirname "$dir")"
  exec 9>"$dir.lock"
  flock 9
fi
if [ ! -f "$dir/.ready" ]; then
  python="${PYTHON:-python3}"
  # The locks are resolved for Python 3.11 (their wheels are cp311 builds).
  "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || {
    echo "env.sh: $lock is for Python 3.11; $python is $("$python" -V 2>&1) (set PYTHON=python3.11)" >&2; exit 2; }
  echo "env.sh: creating $dir for $sub from $lock" >&2
  rm -rf "$dir"
  start=$(date +%s)
  "$python" -m venv "$dir"
  pip=("$dir/bin/python" -m pip --disable-pip-version-check)
  # A lock that names a source besides PyPI (torch's CPU wheels) has pip ask that source about every package. Where
  # that host cannot be reached (the wheel then comes from a local copy pip is configured with), pip's default 5
  # retries cost several seconds per package: 2 are enough to tell a host that is down.
  retries=()
  if grep -q '^--\(find-links\|extra-index-url\)' "$lock" && [ -z "${PIP_RETRIES:-}" ]; then retries=(--retries 2); fi
  "${pip[@]}" install --quiet "${retries[@]}" --require-hashes --no-deps -r "$lock" >&2
  "${pip[@]}" install --quiet --no-deps -e shared_data >&2
  "${pip[@]}" check >&2
  echo "$(( $(date +%s) - start ))" > "$dir/.ready"
  echo "env.sh: $dir ready in $(cat "$dir/.ready") s" >&2
fi
echo "$dir"
