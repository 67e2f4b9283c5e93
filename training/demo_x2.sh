#!/usr/bin/env bash
# Continue the demo model on a 2-GPU machine in one device call (about 9.5 minutes):
# GPU 0 trains level 2, GPU 1 levels 1 and 0 then the stereo stage, both warm-started from the
# shipped bundle; a last recipe run (all budgets 0) takes level 2 from the first run, the rest from
# the second, exports the bundle, generates a sample and copies the results to $OUT.
#   bash training/demo_x2.sh            (BUDGET=seconds per GPU, default 480; GPU 1's split:
#                                        BUDGET_L1, BUDGET_L0, BUDGET_DD, default 1/4, 1/4, 1/2 - 90 s)
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=/tmp/site:. NCCL_NVLS_ENABLE=0
out=${OUT:-demo-out}; mkdir -p "$out" runs
T=${BUDGET:-480}
init=${INIT:-jbdiff/demo/demo.safetensors}
common=(--data data/wesnoth_carry --init-bundle "$init" --budget-vqvae 0 --budget-levels 0 --sample-seconds 0
        --batch-levels "${BATCH_LEVELS:-256}" --lr-levels "${LR_LEVELS:-3e-4}" --log-every 50)
(CUDA_VISIBLE_DEVICES=0 python3 -m training.demo_recipe "${common[@]}" --out runs/x2a \
   --budget-level2 $((T - 50)) --budget-dd 0 --total-budget "$T" > runs/x2a.log 2>&1; echo "level 2 run rc=$?") &
(CUDA_VISIBLE_DEVICES=1 python3 -m training.demo_recipe "${common[@]}" --out runs/x2b \
   --budget-level1 "${BUDGET_L1:-$((T / 4))}" --budget-level0 "${BUDGET_L0:-$((T / 4))}" \
   --budget-dd "${BUDGET_DD:-$((T / 2 - 90))}" --total-budget "$T" \
   > runs/x2b.log 2>&1; echo "levels 1, 0, dd run rc=$?") &
wait
tail -n 12 runs/x2a.log; tail -n 12 runs/x2b.log
cp runs/x2b/summary.json runs/x2b-train-summary.json
CUDA_VISIBLE_DEVICES=0 python3 -m training.demo_recipe --data data/wesnoth_carry --init-bundle "$init" \
  --out runs/x2b --resume runs/x2a --budget-vqvae 0 --budget-levels 0 --budget-dd 0 --sample-seconds 8 \
  --export-dir "$out" 2>&1 | tail -n 12
# one summary (the merge run's, with both training runs inside) and one loss table: 7 files in $OUT
python3 - "$out" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
merged = json.loads((out / "summary.json").read_text())
merged["trained"] = {"gpu0": json.loads(pathlib.Path("runs/x2a/summary.json").read_text()),
                     "gpu1": json.loads(pathlib.Path("runs/x2b-train-summary.json").read_text())}
(out / "summary.json").write_text(json.dumps(merged, indent=2))
rows = [line for f in sorted(pathlib.Path("runs/x2a").glob("level2/*-losses.csv"))
        for line in f.read_text().splitlines()[1:]]
with open(out / "losses.csv", "a") as fh:
    fh.writelines(f"level2,{line}\n" for line in rows)
PY
ls -la "$out"
