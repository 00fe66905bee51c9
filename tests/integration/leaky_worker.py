#!/usr/bin/env python3
"""An exec'd worker (no disco import, so the node does not fork it) whose child leaves the
worker's session, out of reach of the node's process-group kill: a leak the cluster's check
after stop() must report (tests/integration/test_inprocess_tier.py)."""
import os
import time

from worker_protocol import call  # shipped beside this file in the job home


def main():
    call("WORKER", {"version": "1.1", "pid": os.getpid()})
    call("TASK")
    if os.fork() == 0:
        os.setsid()
        time.sleep(120)
        os._exit(0)
    call("MSG", "child started")
    time.sleep(120)


main()
