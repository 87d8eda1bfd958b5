"""S3-Mamba (Small-Size-Sensitive Mamba, AAAI 2025) as a plugin for an unmodified nnU-Net v2.

Nothing heavy is imported here: nnU-Net imports our trainers while it searches for trainer classes, and
every import error at that moment aborts its lookup.
"""
__version__ = "0.1.0"
