"""learn/ tests run with one torch thread (the machines are shared; small convolutions run faster on one)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def one_torch_thread():
    try:
        import torch
    except ImportError:  # the test module skips itself
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
