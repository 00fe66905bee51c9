"""SQLite store of job records, task states and runtime settings (``DISCO_MASTER_ROOT/master.db``).

Layer 2. One connection owned by one writer thread (a single-thread executor): every read and
write runs there, so the event loop never blocks on SQLite and no locking is needed. The master
keeps live state in memory and writes through this store; after a restart it reloads job
records (``joblist``, ``jobinfo``, results and task timelines of past jobs survive).

Tables: ``jobs(name, prefix, owner, worker, status, start, end, pipeline, inputs, results,
stage_results, reason, plan)``, ``tasks(job, task, stage, grp, host, start, end, status,
attempts, failures, state)``, ``settings(key, value)``. JSON columns hold lists/objects.

Resuming after a restart: ``jobs.plan`` (written once at submission) holds what is needed to
rebuild a job's coordinator (stages, annotated job inputs, scheduler options) and
``tasks.state`` each task's group, inputs, outputs and failed hosts
(`disco.master.jobs.JobCoordinator.task_state`). Databases written before these columns existed
are migrated by adding them (their active jobs cannot be resumed and are marked dead).
"""
from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY, prefix TEXT, owner TEXT, worker TEXT, status TEXT,
    start REAL, end REAL, pipeline TEXT, inputs TEXT, results TEXT, stage_results TEXT,
    reason TEXT, plan TEXT);
CREATE TABLE IF NOT EXISTS tasks (
    job TEXT, task INTEGER, stage TEXT, grp TEXT, host TEXT, start REAL, end REAL,
    status TEXT, attempts INTEGER, failures INTEGER, state TEXT, PRIMARY KEY (job, task));
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT);
"""

JOB_COLUMNS = ("name", "prefix", "owner", "worker", "status", "start", "end", "pipeline",
               "inputs", "results", "stage_results", "reason", "plan")
JSON_COLUMNS = ("pipeline", "inputs", "results", "stage_results", "plan")
TASK_COLUMNS = ("job", "task", "stage", "grp", "host", "start", "end", "status", "attempts",
                "failures", "state")
#: columns added after the first schema: (table, column, type)
ADDED_COLUMNS = (("jobs", "plan", "TEXT"), ("tasks", "state", "TEXT"))


class Store:
    """Async facade over one SQLite database used from one thread."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="disco-store")
        self._db: sqlite3.Connection | None = None

    async def open(self) -> None:
        await self._run(self._open)

    def _open(self) -> None:
        self._db = sqlite3.connect(self.path, check_same_thread=False)
        self._db.executescript(SCHEMA)
        self._db.execute("PRAGMA journal_mode=WAL")
        # WAL + NORMAL survives a master crash (only a power loss can drop the last commits)
        # and saves an fsync per batch of task-state changes.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()
        self._db.commit()

    def _migrate(self) -> None:
        """Add the columns an older database lacks."""
        for table, column, kind in ADDED_COLUMNS:
            present = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                log.info("store: adding column %s.%s", table, column)
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    async def close(self) -> None:
        await self._run(self._close)
        self._executor.shutdown(wait=True)

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    async def _run(self, fn: Callable, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, *args)

    # ---- jobs ----------------------------------------------------------------------------

    async def save_job(self, record: dict) -> None:
        await self._run(self._save_job, record)

    def _save_job(self, record: dict) -> None:
        values = [json.dumps(record.get(c)) if c in JSON_COLUMNS else record.get(c)
                  for c in JOB_COLUMNS]
        marks = ",".join("?" * len(JOB_COLUMNS))
        self._db.execute(f"INSERT OR REPLACE INTO jobs ({','.join(JOB_COLUMNS)}) "
                         f"VALUES ({marks})", values)
        self._db.commit()

    async def load_jobs(self) -> list[dict]:
        return await self._run(self._load_jobs)

    def _load_jobs(self) -> list[dict]:
        rows = self._db.execute(f"SELECT {','.join(JOB_COLUMNS)} FROM jobs ORDER BY start")
        jobs = []
        for row in rows:
            record = dict(zip(JOB_COLUMNS, row))
            for column in JSON_COLUMNS:
                record[column] = json.loads(record[column]) if record[column] else None
            jobs.append(record)
        return jobs

    async def delete_job(self, name: str) -> None:
        await self._run(self._delete_job, name)

    def _delete_job(self, name: str) -> None:
        self._db.execute("DELETE FROM jobs WHERE name = ?", (name,))
        self._db.execute("DELETE FROM tasks WHERE job = ?", (name,))
        self._db.commit()

    # ---- tasks ---------------------------------------------------------------------------

    async def save_tasks(self, rows: list[tuple]) -> None:
        if rows:
            await self._run(self._save_tasks, rows)

    def _save_tasks(self, rows: list[tuple]) -> None:
        marks = ",".join("?" * len(TASK_COLUMNS))
        self._db.executemany(f"INSERT OR REPLACE INTO tasks ({','.join(TASK_COLUMNS)}) "
                             f"VALUES ({marks})", rows)
        self._db.commit()

    async def load_tasks(self, job: str) -> list[dict]:
        return await self._run(self._load_tasks, job)

    def _load_tasks(self, job: str) -> list[dict]:
        rows = self._db.execute(f"SELECT {','.join(TASK_COLUMNS)} FROM tasks WHERE job = ? "
                                f"ORDER BY task", (job,))
        tasks = []
        for row in rows:
            task = dict(zip(TASK_COLUMNS, row))
            task["state"] = json.loads(task["state"]) if task["state"] else None
            tasks.append(task)
        return tasks

    # ---- settings ------------------------------------------------------------------------

    async def load_settings(self) -> dict[str, str]:
        return await self._run(self._load_settings)

    def _load_settings(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM settings"))

    async def save_settings(self, values: dict[str, str]) -> None:
        await self._run(self._save_settings, values)

    def _save_settings(self, values: dict[str, str]) -> None:
        self._db.executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)",
                             list(values.items()))
        self._db.commit()
