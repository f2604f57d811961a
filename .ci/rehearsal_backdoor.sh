#!/usr/bin/env bash
# CI: the backdoor rehearsal (conf/paper's protocol at paper shape, CPU) twice: one process, then
# `torchrun --nproc_per_node 2` (gloo); the metric tables of the two runs must be equal.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 KEDRO_DISABLE_TELEMETRY=1 SPARK_LOCAL_IP=127.0.0.1 IMITATION_KEDRO_PROGRESS=0
# the registry picks the paper-scale inputs from the env (until the env hook is registered: KEDRO_ENV)
export KEDRO_ENV=rehearsal
PY=${PYTHON:-.venv/bin/python}
KEDRO=${KEDRO:-.venv/bin/kedro}
OUT=data/rehearsal/07_model_output/backdoor
latest() { ls -1 "$OUT/$1.parquet" 2>/dev/null | sort | tail -n 1; }

"$KEDRO" run --env rehearsal --pipelines backdoor
one_pre=$(latest pretrain_metrics); one_clean=$(latest cleaning_results); one_sel=$(latest selection)
"$PY" -m torch.distributed.run --nproc_per_node 2 --master_port "${MASTER_PORT:-29511}" \
    "$KEDRO" run --env rehearsal --pipelines backdoor
two_pre=$(latest pretrain_metrics); two_clean=$(latest cleaning_results); two_sel=$(latest selection)
if [ "$one_pre" = "$two_pre" ]; then
  echo "the torchrun run saved no new metrics version" >&2
  exit 1
fi
"$PY" - "$OUT" "$one_pre" "$two_pre" "$one_clean" "$two_clean" "$one_sel" "$two_sel" <<'PYEOF'
import sys

import pandas as pd

TIMING = {"pairs_per_s", "train_s", "run_s", "decode_rejects"}
out, pairs = sys.argv[1], sys.argv[2:]
bad = 0
for name, a, b in zip(("pretrain_metrics", "cleaning_results", "selection"), pairs[::2], pairs[1::2]):
    one = pd.read_parquet(f"{out}/{name}.parquet/{a}/{name}.parquet")
    two = pd.read_parquet(f"{out}/{name}.parquet/{b}/{name}.parquet")
    cols = [c for c in one.columns if c not in TIMING]
    num = [c for c in cols if pd.api.types.is_float_dtype(one[c])]
    diff = float((one[num] - two[num]).abs().max().max()) if num else 0.0
    same = one[cols].equals(two[cols])
    print(f"{name}: {len(one)} rows, 1 process vs 2 ranks: equal={same}, max |diff|={diff:.3g}")
    bad += not same
sys.exit(1 if bad else 0)
PYEOF
