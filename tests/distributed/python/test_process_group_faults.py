"""Fault scenarios, run as a script (not collected tests) by tests/distributed/run.sh:

    mpirun -np 2 python3 test_process_group_faults.py raise|exit|hang

The last rank fails before collective #2 (an all_reduce of float32 [1024]) in the chosen way;
the others wait in it. run.sh expects the job to end within a few seconds with a message:
  raise: the failing rank's excepthook ends the job at once ("uncaught RuntimeError");
  exit:  the rank leaves with sys.exit(3): mpirun or the others' watchdog ends the job;
  hang:  the rank sleeps: the others' watchdog ends it ("did not complete within").
"""
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "python_bindings"))


def main(mode):
    import kiln
    import kiln.distributed as dist

    dist.init_process_group("mpi")
    dist.barrier()  # collective #1
    if dist.get_rank() == dist.get_world_size() - 1:
        if mode == "raise":
            raise RuntimeError("rank failed before the all_reduce")
        if mode == "exit":
            sys.exit(3)
        time.sleep(60)
        return
    t = kiln.ones(1024)
    dist.all_reduce(t)  # collective #2: never completes
    print(f"rank {dist.get_rank()}: the all_reduce completed without the last rank", flush=True)
    sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1])
