#!/usr/bin/env bash
# GPU measurements of issues 6-8 as named steps, unattended, on a 2-GPU machine (repository root; nnU-Net, this
# package and mamba-ssm importable; NCCL_NVLS_ENABLE=0 where the machine asks for it; CVC-ClinicDB prepared by
# `experiments/cvc_clinicdb.sh prepare`; CVC_DIR = the CVC-ClinicDB folder, default ../shared/data/CVC-ClinicDB):
#
#   bash experiments/gpu_session.sh OUT_DIR [STEP ...]     # default: ddp-step ddp-2gpu ddp-1gpu lr-rows (~20 min)
#
# Each step writes into OUT_DIR and appends a line to OUT_DIR/phases; a failing step does not stop the next.
# Getting there with the device tool (2026-11-30): the tracked tree (11 MB, most of it docs/results), the device kit
# (19 MB) and a copy of CVC-ClinicDB in .device/data-src (40 MB) exceed the tool's 64 MiB, so docs/results was moved
# out of the checkout while the calls ran; one call starts `setup.sh`, the mamba-ssm build, `cvc_clinicdb.sh
# prepare` and this script under setsid, and the next calls, each within the machine's 30 s idle window, wait and
# pack OUT_DIR and runs/ into $OUT.
#   ddp-step   the network's DDP training step, nnU-Net's SyncBatchNorm vs per-GPU norms (ddp_step_{2,1}gpu.json)
#   ddp-step-compile   the same plus a torch.compile'd row (ddp_step_compile_{2,1}gpu.json)
#   ddp-2gpu   nnUNetv2_train -num_gpus 2 (ddp_scaling_2gpu.json); then an interruption after epoch 1 simulated on
#              its result and resumed with --c on 2 GPUs (ddp_resume.log)
#   ddp-1gpu   GPU 0: the same training on 1 GPU (ddp_scaling_1gpu.json); meanwhile GPU 1: nnUNetv2_predict from the
#              2-GPU result and its evaluation (ddp_predict.log, ddp_eval/), the network benchmark at the per-GPU
#              batch with a device-time profile and at the plan's batch with torch.compile (network_b9.json,
#              network_compile.json)
#   ddp-per-gpu-batch   1 vs 2 GPUs with the plan's batch on every GPU (ddp_scaling_per_gpu_batch.json)
#   bench-adamw   the network's step with fused vs PyTorch's default AdamW at batch 9 and 26 (network_adamw_b*.json)
#   lr-rows    the lr 1e-3 rows of issue 8 under the 5-epoch budget, one per GPU (runs/cvc_clinicdb/<trainer>/)
#   rows-10epochs   issue 8's 10-epoch budget: S3-Mamba on GPU 0; its baseline, then nnU-Net's U-Net, on GPU 1
#   compile-op  the scan's custom operators under torch.compile (ops/mamba_ssm_scan.py): the architecture tests on the
#              GPU (gpu_arch_tests.txt), the network step compiled vs eager (network_compile_op.json), and
#              nnUNetv2_train compiled on GPU 1 beside eager on GPU 0 (ddp_scaling_1gpu[_compiled].json)
#   predict-gpu  nnUNetv2_predict of 184 CVC frames with untrained checkpoints, U-Net vs S3-Mamba interleaved, and
#              the inference tile (benchmarks/predict_time.py --device cuda; predict_gpu.json)
#   repeat-and-compile  a 4-GPU machine (~14 min): a second run of the 10-epoch rows (runs/cvc_clinicdb_run2/),
#              S3-Mamba on GPU 0 and its baseline on GPU 1, while GPUs 2 and 3 run compile-op; then GPU 2 trains the
#              U-Net row while GPU 3 runs predict-gpu
#   rows-15epochs  a 4-GPU machine (~20 min): issue 8's 15-epoch budget (runs/cvc_clinicdb_15epochs/), S3-Mamba
#              on GPU 0, the U-Net then the baseline on GPU 1, while GPUs 2 and 3 run compile-op, then GPU 2
#              network-before-after if BEFORE_SRC is set
#   rows-15epochs-run2  a 4-GPU machine (~20 min): the 15-epoch baseline row that rows-15epochs did not finish (GPU 1,
#              runs/cvc_clinicdb_15epochs/) and a second run of all three 15-epoch rows (runs/cvc_clinicdb_15epochs_run2/;
#              S3-Mamba GPU 0, baseline GPU 3, U-Net GPU 2, then network-before-after there if BEFORE_SRC is set,
#              then triton-scan there)
#   triton-scan  GPU 0: the "triton" scan backend (ops/triton_scan.py): its tests on the GPU (triton_tests.txt),
#              SS2D forward+backward per stage against mamba-ssm for several tile sizes (ss2d_scan_gpu.json), and
#              the network step with each backend (network_{mamba_ssm,triton}.json)
#   network-before-after  GPU 0: the eager network step (full, no TCMA, baseline; profiled) of an earlier version
#              of this package (BEFORE_SRC = a folder holding its nnunetv2_s3mamba/) and of this one, one after the
#              other (network_{before,after}.json)
#   tcma-fullres  a 2-GPU machine (~17 min): two runs of the 10-epoch full-resolution TCMA row
#              (S3MambaTrainer_TCMAfullres_10epochs; runs/cvc_clinicdb_tcmafullres/ and .../run2/), GPU 0 at once, GPU 1
#              after triton-scan there
#   rows-20epochs  a 2-GPU machine (~22 min): issue 8's 20-epoch budget (runs/cvc_clinicdb_20epochs/), both models
#              compiled as their trainers run by default (S3-Mamba on GPU 0; the U-Net on GPU 1), then on GPU 1
#              scan-backends-compiled
#   sequences-20epochs  a 2-GPU machine (~25 min): the 20-epoch rows on the stricter split that keeps each video
#              sequence on one side (Dataset502, `KEEP_SEQUENCES=1`; runs/cvc_clinicdb_sequences_20epochs/), S3-Mamba
#              on GPU 0, the U-Net on GPU 1, then on GPU 1 scan-backends-compiled
#   prepare-sequences  Dataset502 (`KEEP_SEQUENCES=1 DATASET_ID=502 cvc_clinicdb.sh prepare`), any machine
#   sequences-15epochs-1gpu  a 1-GPU machine (19 min on an H200 after prepare-sequences and the mamba-ssm build):
#              the 15-epoch rows on Dataset502 (runs/cvc_clinicdb_sequences_15epochs/), S3-Mamba and the U-Net side
#              by side on GPU 0, both compiled, 6 augmentation workers each; RUNS= another folder for a rerun
#   sequences-15epochs-2gpu  a 2-GPU machine (~20 min after the same preparation): the same two rows plus the
#              baseline (S3MambaTrainer_baseline_15epochs), S3-Mamba on GPU 0, the U-Net and the baseline on GPU 1
#   sequences-baseline-1gpu  a 1-GPU machine (15 min on an H200 after the same preparation; 19.5 device minutes
#              in all): the ablation's baseline on Dataset502 (S3MambaTrainer_baseline_15epochs) beside a third
#              U-Net run, both on GPU 0 (runs/cvc_clinicdb_sequences_15epochs_baseline/)
#   sequences-rows  any rows on Dataset502, side by side as above: ROWS="GPU:TRAINER ..." (e.g.
#              ROWS="0:S3MambaTrainer_CL_15epochs", the curriculum alone on the baseline), into RUNS (default
#              runs/cvc_clinicdb_sequences_15epochs_ablation/). One S3-Mamba row alone trains at about 35 s an epoch
#              on an H200, so one 15-epoch row plus the preparation fits a session; two S3-Mamba rows may not.
#   triton-compiled  GPU 0: scan-backends-compiled for the Triton scan only (network_compiled_triton.json)
#   scan-backends-compiled  GPU 0: the network step with the Triton scan and with mamba-ssm's, eager and compiled,
#              the U-Net beside each (network_compiled_{triton,mamba_ssm}.json)
#   adamw-controls  a 1-GPU machine (after prepare-sequences; an estimated 12 min on an H200):
#              nnUNetTrainer_AdamW_15epochs (nnU-Net's U-Net with S3-Mamba's optimiser) on the paper's per-frame split
#              (Dataset501, prepared here if absent; runs/cvc_clinicdb_15epochs_unet_adamw/) and a second run on
#              Dataset502 (runs/cvc_clinicdb_sequences_15epochs_unet_adamw_run2/), side by side on GPU 0
#   prepare-per-frame  Dataset501 (`cvc_clinicdb.sh prepare`) unless it exists, any machine
#   optimizer-controls  a 1-GPU machine (after prepare-sequences, prepare-per-frame and the mamba-ssm build; on an
#              H200 the U-Net rows were collected after 10 min, the S3-Mamba row after 20, 24.6 device minutes in
#              all with setup, build and preparation): adamw-controls with 5 augmentation workers per row, beside
#              S3MambaTrainer_nnUNetSGD_15epochs (S3-Mamba with nnU-Net's optimiser, compiled, 6 workers) on the
#              per-frame split (runs/cvc_clinicdb_15epochs_s3mamba_sgd/): the per-frame network x optimiser grid
#   drop-path-rows  a 1-GPU machine (after prepare-per-frame and the mamba-ssm build; on an H200 the U-Net rows were
#              collected after 10 min, the S3-Mamba row after 20, 24.2 device minutes in all with setup and build):
#              S3MambaTrainer_noDropPath_15epochs (stochastic depth off, compiled, 6 workers) on the per-frame split
#              (runs/cvc_clinicdb_15epochs_nodroppath/) beside second runs of nnUNetTrainer_15epochs and
#              nnUNetTrainer_AdamW_15epochs there (eager, 5 workers each; runs/cvc_clinicdb_15epochs_run2_unet/ and
#              runs/cvc_clinicdb_15epochs_unet_adamw_run2/), all on GPU 0
#   paper-input-rows  a 1-GPU machine, with the mamba-ssm build started beside this step (it waits for mamba_ssm):
#              the paper's input size and batch on the per-frame split (`s3mamba paper-input 501`: configuration
#              2d_paper, 256x256, batch 16) for 30 epochs = 7,500 iterations, 47% of the paper's 16k
#              (runs/cvc_clinicdb_paper_input_30epochs/): nnUNetTrainer_30epochs (eager, 6 workers) as soon as
#              Dataset501 is prepared, S3MambaTrainer_30epochs (compiled, 8 workers) once mamba-ssm imports, both
#              on GPU 0. Planned from a measured step of 121 ms at 256x256 x 16 against 245 ms at 320x384 x 19 (H200,
#              Triton scan, eager; results/gpu_h200_2026-12-01e/) and the compiled mamba-ssm row of
#              results/cvc_clinicdb_15epochs_s3mamba_sgd/ (machine start to training 4 min, first epoch 426 s with
#              compilation, then 41-50 s at 320x384): about 25 s an epoch here, so about 25 device minutes in all
#              (measured: 25.6, S3-Mamba epochs 19.6-27.0 s after a first of 299 s; results/gpu_h200_2026-12-01f/);
#              40 epochs would need about 31
#   four-gpus  a 4-GPU machine, side by side (~17 min): GPUs 2 and 3 train the 10-epoch S3-Mamba and baseline rows;
#              GPUs 0+1 meanwhile train with the plan's batch on each GPU (ddp_scaling_2gpu_2d_x2.json; its 1-GPU
#              reference is GPU 2's row, same trainer code and batch, same minutes), then GPU 0 trains nnU-Net's
#              U-Net row while GPU 1 trains compiled on one GPU (ddp_scaling_1gpu_compiled.json) and measures the
#              fused AdamW; then ddp-step-compile (2 x 9 and 1 x 18)
set -uo pipefail
out=${1:?usage: $0 OUT_DIR [STEP ...]}
shift
steps=${*:-ddp-step ddp-2gpu ddp-1gpu lr-rows}
mkdir -p "$out"
eval "$(python3 -m nnunetv2_s3mamba.cli env)"
export nnUNet_compile=f
phase() { echo "$(date +%T) $1" >> "$out/phases"; }
ds=$(ls -d "$nnUNet_raw"/Dataset501_*)
trainer=S3MambaTrainer_2epochs
r2=$nnUNet_results/ddp_scaling_2gpu

ddp_step() {  # ddp_step NAME [OPTION...]
    local name=$1
    shift
    torchrun --nproc_per_node 2 benchmarks/ddp_step.py --batch 9 "$@" > "$out/${name}_2gpu.json" 2> "$out/${name}_2gpu.err"
    CUDA_VISIBLE_DEVICES=0 torchrun --nproc_per_node 1 benchmarks/ddp_step.py --batch 9 18 "$@" \
        > "$out/${name}_1gpu.json" 2> "$out/${name}_1gpu.err"
}

row() {  # row GPU TRAINER: train a row of issue 8, then predict and evaluate the test frames on the same GPU
    bash experiments/cvc_clinicdb.sh train "$2" "$1"
    CUDA_VISIBLE_DEVICES=$1 bash experiments/cvc_clinicdb.sh collect "$2" > "$out/collect_${run_tag:-}$2.log" 2>&1
    phase "collected ${run_tag:-}$2"
}

one_gpu_training() {  # one_gpu_training GPU NAME [--compile]: benchmarks/ddp_scaling.py on one GPU into NAME.json
    CUDA_VISIBLE_DEVICES=$1 python3 benchmarks/ddp_scaling.py --dataset 501 --trainer $trainer --gpus 1 "${@:3}" \
        > "$out/$2.json" 2> "$out/$2.err"
}

ddp_2gpu() {
    python3 benchmarks/ddp_scaling.py --dataset 501 --trainer $trainer --gpus 2 \
        > "$out/ddp_scaling_2gpu.json" 2> "$out/ddp_scaling_2gpu.err"
    cp "$nnUNet_results"/ddp_scaling_2gpu.log "$out/"
    local fold
    fold=$(ls -d "$r2"/Dataset501_*/${trainer}__nnUNetPlans__2d/fold_0) || return 1
    python3 - "$fold" <<'PY'
import sys, torch, pathlib
fold = pathlib.Path(sys.argv[1])
checkpoint = torch.load(fold / "checkpoint_final.pth", weights_only=False, map_location="cpu")
checkpoint["current_epoch"] = 1                       # as if the run had stopped after epoch 1
torch.save(checkpoint, fold / "checkpoint_latest.pth")
(fold / "checkpoint_final.pth").rename(fold / "checkpoint_final_uninterrupted.pth")
PY
    nnUNet_results=$r2 nnUNetv2_train 501 2d 0 -tr $trainer -num_gpus 2 --c > "$out/ddp_resume.log" 2>&1
    echo "exit code $?" >> "$out/ddp_resume.log"
}

ddp_1gpu() {
    (CUDA_VISIBLE_DEVICES=1 nnUNet_results=$r2 nnUNetv2_predict -i "$ds/imagesTs" -o "$out/ddp_pred" -d 501 -c 2d \
        -f 0 -tr $trainer -npp 4 -nps 4 > "$out/ddp_predict.log" 2>&1
     python3 -m nnunetv2_s3mamba.cli evaluate "$out/ddp_pred" "$ds/labelsTs" --strata "$ds/size_strata.json" \
        -o "$out/ddp_eval" --no-progress > "$out/ddp_eval.log" 2>&1
     rm -rf "$out/ddp_pred"
     phase ddp-predict
     CUDA_VISIBLE_DEVICES=1 python3 benchmarks/network_gpu.py --presets vmamba-s --batch 9 --steps 5 --profile \
        > "$out/network_b9.json" 2> "$out/network_b9.err"
     CUDA_VISIBLE_DEVICES=1 TORCHINDUCTOR_COMPILE_THREADS=4 python3 benchmarks/network_gpu.py --presets vmamba-s \
        --steps 5 --compile > "$out/network_compile.json" 2> "$out/network_compile.err"
     phase network-bench) &
    one_gpu_training 0 ddp_scaling_1gpu
    cp "$nnUNet_results"/ddp_scaling_1gpu.log "$out/"
    wait
}

ddp_per_gpu_batch() {
    python3 benchmarks/ddp_scaling.py --dataset 501 --trainer $trainer --gpus 1 2 --per-gpu-batch \
        > "$out/ddp_scaling_per_gpu_batch.json" 2> "$out/ddp_scaling_per_gpu_batch.err"
    cp "$nnUNet_results"/ddp_scaling_*gpu*.log "$out/"
}

bench_adamw() {
    for batch in 9 26; do
        python3 benchmarks/network_gpu.py --presets vmamba-s --batch $batch --steps 10 --adamw fused foreach --profile \
            > "$out/network_adamw_b$batch.json" 2> "$out/network_adamw_b$batch.err"
    done
}

train_rows() {  # train_rows GPU0_TRAINER GPU1_TRAINER [GPU1_TRAINER_AFTER]: train, predict, evaluate
    local -x nnUNet_n_proc_DA=10  # as in the earlier rows; only for this step
    row 0 "$1" &
    row 1 "$2"
    if [ -n "${3:-}" ]; then row 1 "$3"; fi
    wait
}

compile_op() {  # compile_op [GPU_A GPU_B]
    local a=${1:-0} b=${2:-1}
    CUDA_VISIBLE_DEVICES=$a python3 -m pytest -q -p no:cacheprovider tests/architectures > "$out/gpu_arch_tests.txt" 2>&1
    phase gpu-arch-tests
    CUDA_VISIBLE_DEVICES=$a TORCHINDUCTOR_COMPILE_THREADS=8 python3 benchmarks/network_gpu.py --presets vmamba-s \
        --steps 10 --compile > "$out/network_compile_op.json" 2> "$out/network_compile_op.err"
    phase network-compile
    one_gpu_training $b ddp_scaling_1gpu_compiled --compile &
    local compiled=$!
    one_gpu_training $a ddp_scaling_1gpu
    wait $compiled  # not a bare wait: that would also wait for rows a caller runs beside this step
    cp "$nnUNet_results"/ddp_scaling_*.log "$out/"
}

predict_gpu() {  # predict_gpu [GPU]: nnUNetv2_predict of 184 CVC frames, U-Net vs S3-Mamba, interleaved
    CUDA_VISIBLE_DEVICES=${1:-0} python3 benchmarks/predict_time.py --device cuda --frames 184 --predict-frames 184 \
        --repeats 2 --tta-repeats 1 --tile-repeats 20 --data "${CVC_DIR:-../shared/data/CVC-ClinicDB}" \
        > "$out/predict_gpu.json" 2> "$out/predict_gpu.err"
}

another_run_row() {  # another_run_row RUNS_DIR TAG GPU TRAINER: train a row again into its own results folder
    local -x nnUNet_n_proc_DA=10 RUNS=$1 nnUNet_results=$nnUNet_results/$2  # nnU-Net does not seed: another seed
    local run_tag=$2_
    mkdir -p "$nnUNet_results"
    row "$3" "$4"
}

repeat_and_compile() {  # GPUs 0, 1: S3-Mamba, baseline; GPUs 2, 3: compile-op, then the U-Net row and predict-gpu
    another_run_row runs/cvc_clinicdb_run2 run2 0 S3MambaTrainer_10epochs &
    another_run_row runs/cvc_clinicdb_run2 run2 1 S3MambaTrainer_baseline_10epochs &
    compile_op 2 3
    phase compile-op
    another_run_row runs/cvc_clinicdb_run2 run2 2 nnUNetTrainer_10epochs &
    predict_gpu 3
    phase predict-gpu
    wait
}

network_before_after() {  # network_before_after GPU: eager network step of the code in $BEFORE_SRC, then of ours
    local name
    for name in before after; do
        CUDA_VISIBLE_DEVICES=$1 PYTHONPATH=$([ $name = before ] && echo "$BEFORE_SRC:")$PYTHONPATH \
            python3 benchmarks/network_gpu.py --presets vmamba-s --variants full no_tcma baseline --steps 10 \
            --profile > "$out/network_$name.json" 2> "$out/network_$name.err"
    done
}

rows_15epochs() {  # GPU 0: S3-Mamba; GPU 1: the U-Net, then the baseline; GPUs 2 and 3: compile-op, then GPU 2:
    local -x nnUNet_n_proc_DA=10 RUNS=runs/cvc_clinicdb_15epochs   # network-before-after where BEFORE_SRC is set
    row 0 S3MambaTrainer_15epochs &
    (row 1 nnUNetTrainer_15epochs; row 1 S3MambaTrainer_baseline_15epochs) &
    compile_op 2 3
    phase compile-op
    if [ -n "${BEFORE_SRC:-}" ]; then network_before_after 2; phase network-before-after; fi
    wait
}

triton_scan() {  # triton_scan GPU: the "triton" scan backend's tests on the GPU, its tile sweep, the network step
    CUDA_VISIBLE_DEVICES=$1 python3 -m pytest -q -p no:cacheprovider tests/ops/test_ops_triton_scan.py \
        > "$out/triton_tests.txt" 2>&1
    phase triton-tests
    CUDA_VISIBLE_DEVICES=$1 python3 benchmarks/ss2d_scan_gpu.py ${TRITON_TILES:+--tiles $TRITON_TILES} \
        > "$out/ss2d_scan_gpu.json" 2> "$out/ss2d_scan_gpu.err"
    phase ss2d-scan-gpu
    network_per_backend "$1" network
}

network_per_backend() {  # network_per_backend GPU NAME [OPTION...]: the network step with each scan backend
    local gpu=$1 name=$2 backend  # of $BACKENDS (default: both)
    shift 2
    for backend in ${BACKENDS:-mamba_ssm triton}; do
        CUDA_VISIBLE_DEVICES=$gpu S3MAMBA_SCAN_BACKEND=$backend python3 benchmarks/network_gpu.py --presets vmamba-s \
            --steps 10 "$@" > "$out/${name}_$backend.json" 2> "$out/${name}_$backend.err"
    done
}

rows_15epochs_run2() {  # the baseline's first 15-epoch row (GPU 1), a second run of all three rows (GPUs 0, 3, 2),
    local -x nnUNet_n_proc_DA=10  # then GPU 2: network-before-after where BEFORE_SRC is set, and triton-scan
    local again=runs/cvc_clinicdb_15epochs_run2
    another_run_row $again run2 0 S3MambaTrainer_15epochs &
    (export RUNS=runs/cvc_clinicdb_15epochs; row 1 S3MambaTrainer_baseline_15epochs) &
    another_run_row $again run2 3 S3MambaTrainer_baseline_15epochs &
    another_run_row $again run2 2 nnUNetTrainer_15epochs
    if [ -n "${BEFORE_SRC:-}" ]; then network_before_after 2; phase network-before-after; fi
    triton_scan 2
    phase triton-scan
    wait
}

tcma_fullres() {  # GPU 0: the full-resolution TCMA row; GPU 1: triton-scan (two tiles), then the row's second run
    local -x nnUNet_n_proc_DA=10 RUNS=runs/cvc_clinicdb_tcmafullres
    row 0 S3MambaTrainer_TCMAfullres_10epochs &
    TRITON_TILES="8,32,4 16,32,8" triton_scan 1
    phase triton-scan
    another_run_row $RUNS/run2 run2 1 S3MambaTrainer_TCMAfullres_10epochs
    wait
}

scan_backends_compiled() {  # scan_backends_compiled GPU
    TORCHINDUCTOR_COMPILE_THREADS=8 network_per_backend "$1" network_compiled --compile
}

twenty_epoch_rows() {  # into $RUNS, on $DATASET_ID: S3-Mamba on GPU 0 and the U-Net on GPU 1, both compiled as
    local -x nnUNet_n_proc_DA=10  # their trainers run by default; then GPU 1: scan-backends-compiled
    nnUNet_compile=t row 0 S3MambaTrainer_20epochs &
    nnUNet_compile=t row 1 nnUNetTrainer_20epochs
    scan_backends_compiled 1
    wait
}

rows_20epochs() {
    RUNS=runs/cvc_clinicdb_20epochs twenty_epoch_rows
}

prepare_sequences() {  # Dataset502: the split that keeps each video sequence on one side (phase line of its own,
    # since sequences-20epochs calls it inside its step)
    DATASET_ID=502 KEEP_SEQUENCES=1 bash experiments/cvc_clinicdb.sh prepare \
        "${CVC_DIR:-../shared/data/CVC-ClinicDB}" > "$out/prepare_sequences.log" 2>&1
    phase prepared-dataset502
}

sequences_20epochs() {
    prepare_sequences
    DATASET_ID=502 RUNS=runs/cvc_clinicdb_sequences_20epochs twenty_epoch_rows
}

sequence_rows() {  # sequence_rows RUNS_DIR GPU:TRAINER ...: rows on Dataset502 side by side, compiled, in the
    local -x DATASET_ID=502 RUNS=${RUNS:-$1} nnUNet_n_proc_DA=6  # order given, into $RUNS if set, else RUNS_DIR
    local gpu_trainer
    for gpu_trainer in "${@:2}"; do
        nnUNet_compile=t row "${gpu_trainer%%:*}" "${gpu_trainer#*:}" &
        sleep 30  # each compilation starts after the previous one has claimed its memory
    done
    wait
}

prepare_per_frame() {  # Dataset501, the paper's per-frame split, unless prepared already
    ls -d "$nnUNet_raw"/Dataset501_* > /dev/null 2>&1 || bash experiments/cvc_clinicdb.sh prepare \
        "${CVC_DIR:-../shared/data/CVC-ClinicDB}" > "$out/prepare.log" 2>&1
    phase prepared-dataset501
}

adamw_controls() {  # adamw_controls [WORKERS]: GPU 0, side by side, nnU-Net's U-Net with S3-Mamba's optimiser on
    prepare_per_frame  # both splits (eager), WORKERS augmentation workers each (default 7)
    local -x nnUNet_n_proc_DA=${1:-7}
    (export DATASET_ID=501 RUNS=runs/cvc_clinicdb_15epochs_unet_adamw run_tag=per_frame_
     row 0 nnUNetTrainer_AdamW_15epochs) &
    (export DATASET_ID=502 RUNS=runs/cvc_clinicdb_sequences_15epochs_unet_adamw_run2 run_tag=sequences_
     row 0 nnUNetTrainer_AdamW_15epochs) &
    wait
}

optimizer_controls() {  # GPU 0: S3-Mamba with nnU-Net's SGD on the per-frame split (compiled) beside adamw_controls
    prepare_per_frame
    (export DATASET_ID=501 RUNS=runs/cvc_clinicdb_15epochs_s3mamba_sgd nnUNet_n_proc_DA=6 nnUNet_compile=t \
        run_tag=per_frame_
     row 0 S3MambaTrainer_nnUNetSGD_15epochs) &
    sleep 30  # the compilation claims its memory first, as in sequence_rows
    adamw_controls 5
    wait
}

drop_path_rows() {  # GPU 0: S3-Mamba without stochastic depth on the per-frame split (compiled) beside second
    prepare_per_frame  # runs of both per-frame U-Net rows (eager)
    local -x DATASET_ID=501 run_tag=per_frame_
    (export RUNS=runs/cvc_clinicdb_15epochs_nodroppath nnUNet_n_proc_DA=6 nnUNet_compile=t
     row 0 S3MambaTrainer_noDropPath_15epochs) &
    sleep 30  # the compilation claims its memory first, as in sequence_rows
    (export RUNS=runs/cvc_clinicdb_15epochs_run2_unet nnUNet_n_proc_DA=5; row 0 nnUNetTrainer_15epochs) &
    (export RUNS=runs/cvc_clinicdb_15epochs_unet_adamw_run2 nnUNet_n_proc_DA=5; row 0 nnUNetTrainer_AdamW_15epochs) &
    wait
}

wait_for_mamba_ssm() {  # wait_for_mamba_ssm MINUTES: until mamba_ssm imports (its build runs beside), or give up
    local tries=$(( $1 * 6 ))
    until python3 -c "import mamba_ssm" 2> /dev/null; do
        (( tries-- > 0 )) || { phase "mamba-ssm not importable after $1 min"; return 1; }
        sleep 10
    done
    sleep 10  # pip may still be writing the package's remaining files
}

paper_input_rows() {  # GPU 0: the U-Net at once, S3-Mamba once mamba-ssm is built; configuration 2d_paper
    prepare_per_frame
    python3 -m nnunetv2_s3mamba.cli paper-input 501 > "$out/paper_input.log" 2>&1
    local -x DATASET_ID=501 CONFIGURATION=2d_paper RUNS=runs/cvc_clinicdb_paper_input_30epochs run_tag=paper_input_
    (export nnUNet_n_proc_DA=6; row 0 nnUNetTrainer_30epochs) &
    wait_for_mamba_ssm 10 && (export nnUNet_n_proc_DA=8 nnUNet_compile=t; row 0 S3MambaTrainer_30epochs)
    wait
}

four_gpus() {
    local -x nnUNet_n_proc_DA=10
    row 2 S3MambaTrainer_10epochs &
    row 3 S3MambaTrainer_baseline_10epochs &
    sleep 60  # the rows have read the plans before ddp_scaling adds its configuration to them
    CUDA_VISIBLE_DEVICES=0,1 python3 benchmarks/ddp_scaling.py --dataset 501 --trainer $trainer --gpus 2 \
        --per-gpu-batch > "$out/ddp_scaling_2gpu_2d_x2.json" 2> "$out/ddp_scaling_2gpu_2d_x2.err"
    phase ddp-per-gpu-batch-2gpu
    row 0 nnUNetTrainer_10epochs &
    local unet=$!
    one_gpu_training 1 ddp_scaling_1gpu_compiled --compile
    phase compiled-1gpu
    CUDA_VISIBLE_DEVICES=1 bench_adamw
    phase bench-adamw
    wait $unet
    cp "$nnUNet_results"/ddp_scaling_*.log "$out/"
    torchrun --nproc_per_node 2 benchmarks/ddp_step.py --batch 9 --compile > "$out/ddp_step_compile_2gpu.json" \
        2> "$out/ddp_step_compile_2gpu.err"
    CUDA_VISIBLE_DEVICES=0 torchrun --nproc_per_node 1 benchmarks/ddp_step.py --batch 18 --compile \
        > "$out/ddp_step_compile_1gpu.json" 2> "$out/ddp_step_compile_1gpu.err"
    phase ddp-step-compile-1gpu
    wait
}

for step in $steps; do
    case $step in
    ddp-step) ddp_step ddp_step ;;
    ddp-step-compile) ddp_step ddp_step_compile --compile ;;
    ddp-2gpu) ddp_2gpu ;;
    ddp-1gpu) ddp_1gpu ;;
    ddp-per-gpu-batch) ddp_per_gpu_batch ;;
    bench-adamw) bench_adamw ;;
    lr-rows) train_rows S3MambaTrainer_lr1e3_5epochs S3MambaTrainer_baseline_lr1e3_5epochs ;;
    rows-10epochs) train_rows S3MambaTrainer_10epochs S3MambaTrainer_baseline_10epochs nnUNetTrainer_10epochs ;;
    compile-op) compile_op ;;
    predict-gpu) predict_gpu ;;
    repeat-and-compile) repeat_and_compile ;;
    rows-15epochs) rows_15epochs ;;
    rows-15epochs-run2) rows_15epochs_run2 ;;
    triton-scan) triton_scan 0 ;;
    network-before-after) network_before_after 0 ;;
    tcma-fullres) tcma_fullres ;;
    rows-20epochs) rows_20epochs ;;
    sequences-20epochs) sequences_20epochs ;;
    scan-backends-compiled) scan_backends_compiled 0 ;;
    triton-compiled) BACKENDS=triton scan_backends_compiled 0 ;;
    prepare-sequences) prepare_sequences ;;
    sequences-15epochs-1gpu) sequence_rows runs/cvc_clinicdb_sequences_15epochs 0:S3MambaTrainer_15epochs \
        0:nnUNetTrainer_15epochs ;;
    sequences-15epochs-2gpu) sequence_rows runs/cvc_clinicdb_sequences_15epochs 0:S3MambaTrainer_15epochs \
        1:S3MambaTrainer_baseline_15epochs 1:nnUNetTrainer_15epochs ;;
    sequences-baseline-1gpu) sequence_rows runs/cvc_clinicdb_sequences_15epochs_baseline \
        0:S3MambaTrainer_baseline_15epochs 0:nnUNetTrainer_15epochs ;;
    sequences-rows) sequence_rows runs/cvc_clinicdb_sequences_15epochs_ablation ${ROWS:?"set ROWS=\"GPU:TRAINER ...\""} ;;
    prepare-per-frame) prepare_per_frame ;;
    adamw-controls) adamw_controls ;;
    optimizer-controls) optimizer_controls ;;
    drop-path-rows) drop_path_rows ;;
    paper-input-rows) paper_input_rows ;;
    four-gpus) four_gpus ;;
    *) echo "unknown step $step" >&2; exit 2 ;;
    esac
    phase "$step"
done
