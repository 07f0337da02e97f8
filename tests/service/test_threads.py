"""Each worker keeps the native libraries of its model on one thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from deployment_agent.service.threads import THREAD_VARIABLES, one_thread_per_worker

# A worker's view: OpenMP (loaded by scikit-learn's HistGradientBoosting) asked from a
# thread that is not the one that loaded it, as a server's request threads are.
PROBE = """
import json, threading
from deployment_agent.service.threads import one_thread_per_worker
one_thread_per_worker()
from sklearn.ensemble import HistGradientBoostingClassifier  # loads OpenMP
from threadpoolctl import threadpool_info
found = {}
thread = threading.Thread(target=lambda: found.update(
    {i["user_api"]: i["num_threads"] for i in threadpool_info()}))
thread.start(); thread.join()
print(json.dumps(found))
"""


def test_unset_variables_become_one_and_the_operators_own_value_wins() -> None:
    environ = {"OMP_NUM_THREADS": "3"}
    one_thread_per_worker(environ)
    assert environ == {"OMP_NUM_THREADS": "3", **{v: "1" for v in THREAD_VARIABLES[1:]}}


def test_openmp_and_blas_run_one_thread_in_every_thread_of_a_worker() -> None:
    """Set before the libraries load, the variables hold for every thread of the process
    (threadpoolctl's limits would hold for the calling thread only, for OpenMP)."""
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    found = json.loads(subprocess.run([sys.executable, "-c", PROBE], env=env, check=True,
                                      capture_output=True, text=True).stdout)
    assert found.get("openmp") == 1 and set(found.values()) == {1}, found
