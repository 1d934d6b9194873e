"""Shared test fixtures for the unit suite."""

import pytest


@pytest.fixture(scope="module")
def torch_one_thread():
    """Tiny model ops run on one thread: more only adds contention on a 2-core machine."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
