"""Intra-op threads: as many as the cores this process owns, not every core of the machine.

PyTorch starts one intra-op thread per core it sees. A process pinned to a few cores
(``taskset``, a container's CPU quota, a Ray worker's ``num_cpus``) then runs more threads
than it has cores, and their OpenMP barriers spin against each other. ``cores_owned`` counts
what this process may run on: its CPU affinity, capped by a cgroup CPU quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def cgroup_cores(v2: Path = CGROUP_V2, v1: tuple[Path, Path] = CGROUP_V1) -> int | None:
    """The CPU quota of this process's cgroup in whole cores (rounded up); None without one."""
    try:
        if v2.exists():
            quota, _, period = v2.read_text().strip().partition(" ")
            if quota == "max":
                return None
            return max(1, math.ceil(int(quota) / int(period or 100000)))
        if v1[0].exists():
            quota, period = (int(p.read_text().strip()) for p in v1)
            return max(1, math.ceil(quota / period)) if quota > 0 else None
    except (OSError, ValueError):
        return None
    return None


def cores_owned() -> int:
    """The cores this process may use: its CPU affinity, capped by its cgroup's quota."""
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    quota = cgroup_cores()
    return max(1, min(affinity, quota) if quota is not None else affinity)


def default_threads() -> int:
    """``$OMP_NUM_THREADS`` when it is set to a whole number, else ``cores_owned()``."""
    value = os.environ.get("OMP_NUM_THREADS", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else cores_owned()


def use_threads(threads: int | None = None) -> int:
    """Set torch's intra-op threads to ``threads`` (default: ``default_threads()``); returns the count."""
    import torch

    count = default_threads() if threads is None else threads
    if count < 1:
        raise ValueError(f"threads must be >= 1, got {count}")
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    return count
