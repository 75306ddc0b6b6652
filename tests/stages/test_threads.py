import os

import pytest
import torch

from stages.errors import InputError
from stages import threads as policy
from stages.threads import ENVIRONMENT_VARIABLE, available_cpus, frame_workers, use_cpu_share


@pytest.fixture
def restored_threads(monkeypatch):
    monkeypatch.setattr(policy, "_frame_workers", frame_workers())  # put back after the test
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_a_cpu_share_gives_one_thread_per_operation_and_that_many_frames(monkeypatch, restored_threads):
    monkeypatch.delenv(ENVIRONMENT_VARIABLE, raising=False)
    assert use_cpu_share(3.5) == 3 and frame_workers() == 3
    assert torch.get_num_threads() == 1
    assert use_cpu_share(0.25) == 1  # a fraction of a CPU still renders
    assert use_cpu_share() == len(os.sched_getaffinity(0))


def test_the_environment_variable_wins_and_is_checked(monkeypatch, restored_threads):
    monkeypatch.setenv(ENVIRONMENT_VARIABLE, "5")
    assert available_cpus() == 5 and use_cpu_share(2) == 5
    for bad in ("0", "two", "-1", ""):
        monkeypatch.setenv(ENVIRONMENT_VARIABLE, bad)
        with pytest.raises(InputError, match=ENVIRONMENT_VARIABLE):
            available_cpus()
