#!/usr/bin/env bash
# The open GPU measurements of issues 6-8 in one unattended run on a 2-GPU machine (repository root; nnU-Net, this
# package and mamba-ssm importable; NCCL_NVLS_ENABLE=0 where the machine asks for it):
#
#   bash experiments/gpu_session.sh CVC_DIR OUT_DIR      # about 20 minutes on 2 H200s
#
# In order of priority, each step's output in OUT_DIR: DDP scaling 1 vs 2 GPUs (ddp_scaling.json), resuming (--c)
# and predicting from the 2-GPU result (ddp_resume.log, ddp_predict.log), the network benchmark with torch.compile
# (network_compile.json), and the lr 1e-3 rows of issue 8 under the 5-epoch budget, one per GPU
# (runs/cvc_clinicdb/<trainer>/, see experiments/cvc_clinicdb.sh).
set -uo pipefail
cvc=${1:?usage: $0 CVC_DIR OUT_DIR} out=${2:?usage: $0 CVC_DIR OUT_DIR}
mkdir -p "$out"
eval "$(python3 -m nnunetv2_s3mamba.cli env)"
export nnUNet_compile=f
N_PROC=16 bash experiments/cvc_clinicdb.sh prepare "$cvc" > "$out/prepare.log" 2>&1 || exit 1
python3 benchmarks/ddp_scaling.py --dataset 501 --trainer S3MambaTrainer_2epochs --gpus 1 2 \
    > "$out/ddp_scaling.json" 2> "$out/ddp_scaling.err"
ddp_results=$nnUNet_results/ddp_scaling_2gpu
dataset=$(ls -d "$nnUNet_raw"/Dataset501_*)
nnUNet_results=$ddp_results nnUNetv2_train 501 2d 0 -tr S3MambaTrainer_2epochs -num_gpus 2 --c \
    > "$out/ddp_resume.log" 2>&1
CUDA_VISIBLE_DEVICES=0 nnUNet_results=$ddp_results nnUNetv2_predict -i "$dataset/imagesTs" -o "$out/ddp_pred" \
    -d 501 -c 2d -f 0 -tr S3MambaTrainer_2epochs > "$out/ddp_predict.log" 2>&1
bash experiments/cvc_clinicdb.sh train S3MambaTrainer_lr1e3_5epochs 0
(CUDA_VISIBLE_DEVICES=1 python3 benchmarks/network_gpu.py --presets vmamba-s --steps 5 --compile \
    > "$out/network_compile.json" 2> "$out/network_compile.err"
 bash experiments/cvc_clinicdb.sh train S3MambaTrainer_baseline_lr1e3_5epochs 1
 bash experiments/cvc_clinicdb.sh collect S3MambaTrainer_baseline_lr1e3_5epochs > "$out/collect_baseline.log" 2>&1) &
bash experiments/cvc_clinicdb.sh collect S3MambaTrainer_lr1e3_5epochs > "$out/collect_full.log" 2>&1
wait
