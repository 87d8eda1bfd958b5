#!/usr/bin/env bash
# The paper's CVC-ClinicDB protocol (issue 8): size-stratified split, several trainers under one budget, evaluation
# per lesion size. Runs on a GPU machine from the repository root with nnU-Net and this package importable.
#
#   bash experiments/cvc_clinicdb.sh prepare CVC_DIR          # convert + split (seed 0) + plan/preprocess
#   KEEP_SEQUENCES=1 DATASET_ID=502 bash experiments/cvc_clinicdb.sh prepare CVC_DIR   # each video sequence on
#                                                              # one side of the test split (no leak)
#   bash experiments/cvc_clinicdb.sh train TRAINER GPU [FOLD]  # nnUNetv2_train in the background (setsid), log in $RUNS
#   bash experiments/cvc_clinicdb.sh collect TRAINER [FOLD]    # wait, predict the test frames, evaluate per stratum
#   CONFIGURATION=2d_paper bash experiments/cvc_clinicdb.sh train|collect ...  # another plans configuration
#                                              # (`s3mamba paper-input 501` adds 2d_paper: 256x256, batch 16)
#
# Budget: every trainer named `<row>_<N>epochs` runs N x 250 iterations with nnU-Net's batch, patch, augmentation and
# sampling for this dataset; the seed of the split is fixed. Outputs: $RUNS/<trainer>/{train.log,pred/,eval/}.
set -euo pipefail
DATASET_ID=${DATASET_ID:-501}
CONFIGURATION=${CONFIGURATION:-2d}
RUNS=${RUNS:-runs/cvc_clinicdb}
SEED=${SEED:-0}
N_PROC=${N_PROC:-12}
eval "$(python3 -m nnunetv2_s3mamba.cli env)"
export nnUNet_compile=${nnUNet_compile:-f}
raw_dataset() { echo "$nnUNet_raw/$(basename "$(ls -d "$nnUNet_raw"/Dataset"${DATASET_ID}"_*)")"; }

case "$1" in
prepare)
    python3 -m nnunetv2_s3mamba.cli convert cvc -i "$2" -d "$DATASET_ID" --split --seed "$SEED" --no-progress \
        ${KEEP_SEQUENCES:+--keep-sequences}
    nnUNetv2_plan_and_preprocess -d "$DATASET_ID" -c 2d -np "$N_PROC" -npfp "$N_PROC" --verify_dataset_integrity
    ;;
train)
    trainer=$2 gpu=$3 fold=${4:-0}
    mkdir -p "$RUNS/$trainer"
    CUDA_VISIBLE_DEVICES=$gpu setsid nohup nnUNetv2_train "$DATASET_ID" "$CONFIGURATION" "$fold" -tr "$trainer" \
        > "$RUNS/$trainer/train.log" 2>&1 < /dev/null &
    echo "started $trainer on GPU $gpu (pid $!)"
    ;;
collect)
    trainer=$2 fold=${3:-0}
    results_glob="$nnUNet_results/Dataset${DATASET_ID}_*/${trainer}__nnUNetPlans__${CONFIGURATION}"
    pattern="$results_glob/fold_$fold/validation/summary.json"
    # The training (started in the background by `train`) creates its folder only once nnU-Net has started.
    until compgen -G "$pattern" > /dev/null; do
        grep -q "Traceback" "$RUNS/$trainer/train.log" && { tail -30 "$RUNS/$trainer/train.log"; exit 1; }
        sleep 10
    done
    results=$(dirname "$(dirname "$(compgen -G "$pattern")")")
    dataset=$(raw_dataset)
    start=$(date +%s.%N)
    nnUNetv2_predict -i "$dataset/imagesTs" -o "$RUNS/$trainer/pred" -d "$DATASET_ID" -c "$CONFIGURATION" -f "$fold" \
        -tr "$trainer" -npp 4 -nps 4 > "$RUNS/$trainer/predict.log" 2>&1
    # nnU-Net prints no timing: the whole command's wall time (start-up, loading, mirroring TTA, export).
    echo "nnUNetv2_predict of $(ls "$dataset/imagesTs" | wc -l) test images (-npp 4 -nps 4, TTA on):" \
        "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s on GPU" \
        "${CUDA_VISIBLE_DEVICES:-0}" \
        > "$RUNS/$trainer/predict_time.txt"
    python3 -m nnunetv2_s3mamba.cli evaluate "$RUNS/$trainer/pred" "$dataset/labelsTs" \
        --strata "$dataset/size_strata.json" -o "$RUNS/$trainer/eval" --overlays 6 --no-progress
    cp "$results"/training_log_*.txt "$results"/progress.png "$results/validation/summary.json" "$RUNS/$trainer/"
    cp "$results"/curriculum_history.json "$results"/curriculum_weights.png "$RUNS/$trainer/" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 prepare CVC_DIR | train TRAINER GPU [FOLD] | collect TRAINER [FOLD]" >&2; exit 2 ;;
esac
