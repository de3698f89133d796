"""pytest set-up for the distributed Python tests, which run on every rank under mpirun
(tests/distributed/run.sh): import `kiln` from this checkout (the extension from build/ or
$KILN_BUILD_DIR) and create the default process group once per process (KILN_DIST_BACKEND:
"mpi" by default). Every rank runs the same tests in the same order, so their collectives match.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "python_bindings"))

import kiln  # noqa: E402,F401
import kiln.distributed as dist  # noqa: E402


def pytest_configure(config):
    if not dist.is_initialized():
        dist.init_process_group(os.environ.get("KILN_DIST_BACKEND", "mpi"))


def pytest_unconfigure(config):
    if dist.is_initialized():
        dist.destroy_process_group()
