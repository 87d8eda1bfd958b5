"""S3-Mamba's network (paper Fig. 2) as nnU-Net-compatible PyTorch modules, named after the paper's parts."""
from nnunetv2_s3mamba.architectures.envss import EnCFBlock, EnVSSBlock
from nnunetv2_s3mamba.architectures.pretrained import load_vmamba_pretrained
from nnunetv2_s3mamba.architectures.s3mamba_net import S3MAMBA_PRESETS, S3MambaNet, build_s3mamba
from nnunetv2_s3mamba.ops import scan_backend_report, selective_scan
from nnunetv2_s3mamba.architectures.ss2d import SS2D
from nnunetv2_s3mamba.architectures.tcma import TCMA

__all__ = ["S3MambaNet", "S3MAMBA_PRESETS", "build_s3mamba", "selective_scan", "scan_backend_report",
           "load_vmamba_pretrained", "EnVSSBlock", "EnCFBlock", "SS2D", "TCMA"]
