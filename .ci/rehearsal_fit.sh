#!/usr/bin/env bash
# CI step: the FIT paper-shape rehearsal end to end (issue 17). In a throwaway project copy it
# builds the stand-ins (`python -m imitation_kedro.rehearsal build`), runs
# `kedro run --env rehearsal` (conf/paper + conf/rehearsal) and checks: 4 sets x 3 models of
# threshold rows, sd21 on the LAION-5B estimates, modern concepts under the modern constants,
# inputs byte-identical, nothing written outside data/rehearsal/. ~10 min on 2 busy cores.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 KEDRO_DISABLE_TELEMETRY=1 SPARK_LOCAL_IP=127.0.0.1 IMITATION_KEDRO_PROGRESS=0
export IMITATION_KEDRO_REHEARSAL=1 MPLBACKEND=Agg
BIN=${BIN:-.venv/bin}
exec "$BIN/pytest" -p no:cacheprovider -m rehearsal tests/rehearsal/test_fit_rehearsal.py "$@"
