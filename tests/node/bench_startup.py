"""Task start-up benchmark: exec vs fork server (run: python tests/node/bench_startup.py [N]).

Each task runs a `# disco-python-worker` launcher that imports `disco.worker` (as the Python
client's launcher does), then WORKER -> TASK -> DONE. Measured: from `TaskRunner.run()` to the
`task_done` report, job home already extracted (a job's later tasks).
"""
from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from disco.node.forkclient import ForkLauncher  # noqa: E402
from disco.node.supervisor import ExecLauncher  # noqa: E402
from nodetest_helpers import PackServer, TaskCase, build_jobpack  # noqa: E402

LAUNCHER = """#!/usr/bin/env python3
# disco-python-worker
import os, sys
import disco.worker
from disco.protocol.framing import write_message, read_message
out, inp = sys.stderr.buffer, sys.stdin.buffer
write_message(out, "WORKER", {"version": "1.1", "pid": os.getpid()})
read_message(inp)
write_message(out, "TASK", "")
read_message(inp)
write_message(out, "DONE", "")
read_message(inp)
"""


async def measure(kind: str, count: int) -> list[float]:
    launcher = ForkLauncher(ExecLauncher()) if kind == "fork" else ExecLauncher()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        async with PackServer() as server:
            server.packs["bench@1"] = build_jobpack("bench", LAUNCHER)
            first = TaskCase(tmp, server, "bench", job="bench@1", launcher=launcher)
            for i in range(count + 1):
                case = TaskCase(tmp, server, "bench", job="bench@1", jobhomes=first.jobhomes,
                                launcher=launcher, task=i)
                runner = case.runner()
                started = time.perf_counter()
                await runner.run()
                elapsed = time.perf_counter() - started
                assert case.final()["op"] == "task_done", case.sent
                if i:  # the first run fetches the job pack (and starts the fork server)
                    times.append(elapsed)
            await first.jobhomes.close()
    if kind == "fork":
        await launcher.close()
    return times


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    for kind in ("exec", "fork"):
        times = asyncio.run(measure(kind, count))
        print(f"{kind}: median {statistics.median(times) * 1000:.1f} ms, "
              f"min {min(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms over {count} tasks")


if __name__ == "__main__":
    main()
