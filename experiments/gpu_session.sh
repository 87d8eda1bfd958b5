#!/usr/bin/env bash
# The open GPU measurements of issues 6-8 in one unattended run on a 2-GPU machine (repository root; nnU-Net, this
# package and mamba-ssm importable; NCCL_NVLS_ENABLE=0 where the machine asks for it; CVC-ClinicDB prepared by
# `experiments/cvc_clinicdb.sh prepare`):
#
#   bash experiments/gpu_session.sh OUT_DIR      # about 20 minutes on 2 H200s
#
# Steps, each writing into OUT_DIR and each independent of the others' success (a marker per step in OUT_DIR/phases):
#  1. the network's DDP training step, nnU-Net's SyncBatchNorm vs per-GPU norms (ddp_step_{2,1}gpu.json);
#  2. nnUNetv2_train -num_gpus 2 (ddp_scaling_2gpu.json), then an interruption after epoch 1 simulated on its result
#     and resumed with --c on 2 GPUs (ddp_resume.log);
#  3. GPU 0: the same training on 1 GPU (ddp_scaling_1gpu.json); meanwhile GPU 1: nnUNetv2_predict from the 2-GPU
#     result and its evaluation (ddp_predict.log, ddp_eval/), the network benchmark at the per-GPU batch with a
#     device-time profile and at the plan's batch with torch.compile (network_b9.json, network_compile.json);
#  4. the lr 1e-3 rows of issue 8 under the 5-epoch budget, one per GPU (runs/cvc_clinicdb/<trainer>/).
set -uo pipefail
out=${1:?usage: $0 OUT_DIR}
mkdir -p "$out"
eval "$(python3 -m nnunetv2_s3mamba.cli env)"
export nnUNet_compile=f
phase() { echo "$(date +%T) $1" >> "$out/phases"; }
ds=$(ls -d "$nnUNet_raw"/Dataset501_*)
trainer=S3MambaTrainer_2epochs

torchrun --nproc_per_node 2 benchmarks/ddp_step.py --batch 9 > "$out/ddp_step_2gpu.json" 2> "$out/ddp_step_2gpu.err"
CUDA_VISIBLE_DEVICES=0 torchrun --nproc_per_node 1 benchmarks/ddp_step.py --batch 9 18 \
    > "$out/ddp_step_1gpu.json" 2> "$out/ddp_step_1gpu.err"
phase ddp-step

python3 benchmarks/ddp_scaling.py --dataset 501 --trainer $trainer --gpus 2 \
    > "$out/ddp_scaling_2gpu.json" 2> "$out/ddp_scaling_2gpu.err"
cp "$nnUNet_results"/ddp_scaling_2gpu.log "$out/" 2>/dev/null
phase ddp-2gpu
r2=$nnUNet_results/ddp_scaling_2gpu
fold=$(ls -d "$r2"/Dataset501_*/${trainer}__nnUNetPlans__2d/fold_0)
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
phase ddp-resume

(CUDA_VISIBLE_DEVICES=1 nnUNet_results=$r2 nnUNetv2_predict -i "$ds/imagesTs" -o "$out/ddp_pred" -d 501 -c 2d -f 0 \
    -tr $trainer -npp 4 -nps 4 > "$out/ddp_predict.log" 2>&1
 python3 -m nnunetv2_s3mamba.cli evaluate "$out/ddp_pred" "$ds/labelsTs" --strata "$ds/size_strata.json" \
    -o "$out/ddp_eval" --no-progress > "$out/ddp_eval.log" 2>&1
 rm -rf "$out/ddp_pred"
 phase ddp-predict
 CUDA_VISIBLE_DEVICES=1 python3 benchmarks/network_gpu.py --presets vmamba-s --batch 9 --steps 5 --profile \
    > "$out/network_b9.json" 2> "$out/network_b9.err"
 CUDA_VISIBLE_DEVICES=1 TORCHINDUCTOR_COMPILE_THREADS=4 python3 benchmarks/network_gpu.py --presets vmamba-s \
    --steps 5 --compile > "$out/network_compile.json" 2> "$out/network_compile.err"
 phase network-bench) &
CUDA_VISIBLE_DEVICES=0 python3 benchmarks/ddp_scaling.py --dataset 501 --trainer $trainer --gpus 1 \
    > "$out/ddp_scaling_1gpu.json" 2> "$out/ddp_scaling_1gpu.err"
cp "$nnUNet_results"/ddp_scaling_1gpu.log "$out/" 2>/dev/null
phase ddp-1gpu
wait

export nnUNet_n_proc_DA=10
bash experiments/cvc_clinicdb.sh train S3MambaTrainer_lr1e3_5epochs 0
bash experiments/cvc_clinicdb.sh train S3MambaTrainer_baseline_lr1e3_5epochs 1
for row in S3MambaTrainer_lr1e3_5epochs S3MambaTrainer_baseline_lr1e3_5epochs; do
    bash experiments/cvc_clinicdb.sh collect $row > "$out/collect_$row.log" 2>&1
done
phase lr-rows
