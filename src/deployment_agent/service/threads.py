"""I keep each worker process on one thread for the native libraries a model may load.

A worker is one core's worth of serving. OpenMP (scikit-learn's HistGradientBoosting,
LightGBM with its default thread count) and the BLAS libraries under NumPy and SciPy start
a thread per core by default, and threads of several workers fighting over the cores cost
far more than they give. These libraries read their thread count from the environment once,
when they are loaded, and for every thread of the process: so I set it in the supervisor,
before any worker starts. A value the operator set wins. The scoring modules also set each
model's own thread parameters (``scoring.py``); this covers what has no parameter.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def one_thread_per_worker(environ: MutableMapping[str, str] = os.environ) -> None:
    """I set every thread-count variable the operator left unset to 1."""
    for name in THREAD_VARIABLES:
        environ.setdefault(name, "1")
