#!/usr/bin/env bash
# Install mxdl as a user would: build its wheel, install it (not editable) into a fresh virtual
# environment with the project's pins, and use it from outside the checkout.
#   1. without the [cpu] extra (no mxnet), every command must say in one line how to install it;
#   2. with it and the Horovod wheel that bootstrap.sh built, pack the digits and train them with
#      2 Horovod workers through mxdl-launch and a packaged config.
# Usage: scripts/wheel_check.sh [PROJECT_VENV]   (CI runs it after the tests)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
VENV=$(cd "${1:-$here/.venv}" && pwd)
PINS="$here/requirements/constraints.txt"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "wheel check: $*" >&2; exit 1; }

"$here/scripts/horovod_wheel.sh" "$VENV"
"$VENV/bin/python" -m pip wheel -q --no-deps --no-build-isolation -w "$work/dist" "$here"
wheel=$(ls "$work"/dist/mxdl-*.whl)
python3 -m venv "$work/venv"
pip() { "$work/venv/bin/python" -m pip "$@" 2> >(grep -v "^WARNING: Location" >&2); }  # find-links noise
pip install -q -c "$PINS" pip setuptools wheel

pip install -q -c "$PINS" "$wheel"
cd "$work"
for cmd in "mxdl-train digits" "mxdl-pack verify ." "mxdl-eval run shards" "mxdl-predict run a.png" \
           "mxdl-models list" "mxdl-features logreg feats" "mxdl-augment-preview a.png --output g.png" \
           "mxdl-export run" "mxdl-runs compare run --output x.png"; do
    set +e; said=$("$work/venv/bin/"$cmd 2>&1); code=$?; set -e
    [ "$code" = 2 ] && [ "$(printf '%s\n' "$said" | wc -l)" = 1 ] && [[ "$said" == *"pip install 'mxdl[cpu]'"* ]] \
        || fail "without mxnet, '$cmd' exited $code saying: $said"
done
echo "wheel check: without mxnet every command says how to install it"

pip install -q -c "$PINS" "$wheel[cpu]" "$VENV"/wheels/horovod-*.whl
export PATH="$work/venv/bin:$PATH"
configs=$(mxdl-train --list-configs)
grep -q "^digits " <<< "$configs" || fail "mxdl-train --list-configs does not list digits"
mxdl-pack digits digits-images >/dev/null
mxdl-pack build digits-images digits-shards --split-sizes train=0.8,val=0.2 --png --gray --shards 2 --seed 0 >/dev/null
mxdl-launch digits --np 2 data.dir="$work/digits-shards" train.epochs=3 --output "$work/run" > launch.log 2>&1 \
    || { tail -20 launch.log; fail "mxdl-launch digits failed"; }
grep -q "^finished" run/outcome || fail "the run did not finish"
echo "wheel check: installed from the wheel, mxdl-launch trained digits: $(grep 'finished:' launch.log | tail -1)"
