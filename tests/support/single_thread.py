"""One intra-op thread for tests of the network and its kernels, shared by their folders' conftest files."""
import pytest
import torch


@pytest.fixture(autouse=True)
def single_torch_thread():
    """Run these tests on one intra-op thread. On the shared 2-core box, OpenMP's two threads spin against other
    processes and a 0.1 s forward can take 10 s; one thread keeps the tests fast and their time predictable."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
