#!/usr/bin/env bash
# Create (once) the virtual environment of a subproject and print its folder.
#
#   environments/env.sh <subproject>       e.g. environments/env.sh dgc_tf
#   environments/env.sh --path <subproject>  print the folder without creating anything
#
# The folder is .venvs/<name>-<hash>, where <hash> is taken from the pinned requirements: subprojects with
# identical pins (gamo_keras, dgc_tf, caleg_tf; imsic_torch, dfg_torch) share one installed environment, and a
# change of pins makes a fresh one. An environment counts as ready only once its .ready stamp exists, so an
# interrupted install is redone from scratch rather than used half-made.
set -euo pipefail
cd "$(dirname "$0")/.."
only_path=0
if [ "${1:-}" = "--path" ]; then only_path=1; shift; fi
sub="${1:?usage: environments/env.sh [--path] <subproject>}"
req="environments/$sub/requirements.txt"
[ -f "$req" ] || { echo "env.sh: no $req (known: $(ls environments | grep -v '\.' | tr '\n' ' '))" >&2; exit 2; }
hash=$(grep -v '^\s*#' "$req" | sed '/^\s*$/d' | sha256sum | cut -c1-12)
# Named by framework (tf, torch), so folders that pin the same set share one name; an environment with neither
# (the benchmark runner) is named after its folder.
if grep -q '^tensorflow==' "$req"; then kind=tf
elif grep -q '^torch==' "$req"; then kind=torch
else kind=$sub
fi
dir="${VENVS:-.venvs}/$kind-$hash"
if [ "$only_path" = 1 ]; then echo "$dir"; exit 0; fi
if [ ! -f "$dir/.ready" ]; then
  echo "env.sh: creating $dir for $sub from $req" >&2
  rm -rf "$dir"
  start=$(date +%s)
  "${PYTHON:-python3}" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e shared_data >&2
  "$dir/bin/python" -m pip check >&2
  echo "$(( $(date +%s) - start ))" > "$dir/.ready"
  echo "env.sh: $dir ready in $(cat "$dir/.ready") s" >&2
fi
echo "$dir"
