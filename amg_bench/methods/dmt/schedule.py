"""Which sampling steps DMT guides, and with which learning rate (pure; no model).

The release (``guidance_utils.get_timesteps``, ``run.py``) keeps the sampling timesteps from
index ``n - min(int(n * max_guidance_timestep), n)`` on, and guides those from that index up to
(not including) the last ``int(n * min_guidance_timestep)`` of the full schedule: with 50 steps,
1.0 and 0.6, all 50 steps are sampled and the first 20 guided. Sampling step ``i`` (counted
from 0 over the kept timesteps) is optimised with learning rate ``linspace(lr0, lr1, guided)[i]``
(``with_lr_decay: True``; the config's ``optim_lr`` is then unused).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def guidance_split(
    timesteps: Sequence[int], max_guidance_timestep: float, min_guidance_timestep: float
) -> tuple[list[int], list[int]]:
    """``(sampling timesteps, guided timesteps)`` from a scheduler's full descending ``timesteps``.

    >>> guidance_split([981 - 20 * i for i in range(50)], 1.0, 0.6)[1][-1]
    601
    >>> [len(part) for part in guidance_split(list(range(10, 0, -1)), 0.8, 0.5)]
    [8, 3]
    """
    timesteps = [int(t) for t in timesteps]
    n = len(timesteps)
    start = max(n - min(int(n * max_guidance_timestep), n), 0)
    end = int(n * min_guidance_timestep)
    guided = timesteps[start:-end] if end > 0 else timesteps[start:]
    return timesteps[start:], guided


def learning_rates(lr_range: Sequence[float], guided_steps: int) -> list[float]:
    """The learning rate of each guided step: ``guided_steps`` values from ``lr_range[0]`` to ``lr_range[1]``.

    >>> learning_rates((0.007, 0.004), 4)
    [0.007, 0.006, 0.005, 0.004]
    """
    first, last = lr_range
    return [float(lr) for lr in np.linspace(first, last, guided_steps)]
