import os

# set before torch starts OpenMP: with several test processes (pytest -n), one thread each, so that
# they do not oversubscribe the cores, and idle OpenMP threads sleep instead of spinning
THREADS = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
os.environ.setdefault("OMP_NUM_THREADS", str(THREADS))  # what the command line's default --threads reads
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(autouse=True)
def _small_thread_pool():
    torch.set_num_threads(min(THREADS, torch.get_num_threads()))
    yield


@pytest.fixture(scope="session")
def digits():
    import noisesearch as ns

    return ns.load_process("digits", steps=8)


# the longest files start first, so that the other test processes (pytest -n) share the rest meanwhile
SLOW_FIRST = ("test_distributed.py", "test_bench.py", "test_resume_local.py")


def pytest_collection_modifyitems(config, items):
    items.sort(key=lambda item: item.path.name not in SLOW_FIRST)  # stable: files stay whole and in order
