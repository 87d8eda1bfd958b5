"""Shared settings for the scan-kernel tests: one intra-op thread (tests/support/single_thread.py)."""
from single_thread import single_torch_thread  # noqa: F401
