"""Job pack codec and jobdict validation (layer 0, pure functions, no I/O).

Format (Disco 0.5.4, ``doc/howto/jobpack.rst``, ``master/src/jobpack.erl``)::

    offset 0   uint32 BE  (0xd5c0 << 16) | version     (1 or 2)
    offset 4   uint32 BE  jobdict offset  (exactly 128)
    offset 8   uint32 BE  jobenvs offset  (> jobdict offset)
    offset 12  uint32 BE  jobhome offset  (>= jobenvs offset)
    offset 16  uint32 BE  jobdata offset  (>= jobhome offset, <= size)
    offset 20..127 zero padding
    [jobdict JSON][jobenvs JSON][jobhome ZIP][jobdata to EOF]

Errors are :class:`~disco.error.JobPackError` whose message is Disco's error text
(``invalid header``, ``jobpack missing key 'worker'``, ``invalid prefix`` ...); the master
replies ``["error", "Job failed to start: <text>"]``.

Also here: the master's view of a jobdict -- :func:`compile_pipeline` (v1 map/reduce
flags compiled to stages, v2 ``pipeline``), :func:`job_inputs`, :func:`scheduler_options`
-- and :func:`job_name`.
"""
from __future__ import annotations

import json
import logging
import struct
import time
from typing import Any, NamedTuple

from disco.error import JobPackError

log = logging.getLogger(__name__)

MAGIC = 0xD5C0
VERSION1 = 0x0001
VERSION2 = 0x0002
VERSIONS = (VERSION1, VERSION2)
HEADER_SIZE = 128
HEADER_FORMAT = "!IIIII"
_HEADER_LENGTH = struct.calcsize(HEADER_FORMAT)

GROUPINGS = ("split", "group_label", "group_node", "group_node_label", "group_all")
DEFAULT_MAX_CORES = 1 << 31


class JobPackParts(NamedTuple):
    """The decoded fields of a job pack."""

    version: int
    jobdict: dict[str, Any]
    jobenvs: dict[str, str]
    jobhome: bytes
    jobdata: bytes


class Stage(NamedTuple):
    """One pipeline stage as the master runs it."""

    name: str
    grouping: str
    concurrent: bool = False


class JobInput(NamedTuple):
    """One job input: ``(label, size_hint, [replica urls])``.

    A v1 ``dir://`` input has ``is_dir`` true: it is an index file whose entries carry
    their own labels (one replica only; Disco drops the others with a warning).
    """

    label: int
    size_hint: int
    urls: list[str]

    @property
    def is_dir(self) -> bool:
        return bool(self.urls) and self.urls[0].startswith("dir://")


# --- encoding ---------------------------------------------------------------------------

def header(offsets: tuple[int, int, int, int], version: int = VERSION1) -> bytes:
    """The 128-byte header for the four section offsets."""
    table = struct.pack(HEADER_FORMAT, (MAGIC << 16) | version, *offsets)
    return table + b"\0" * (HEADER_SIZE - len(table))


def pack(version: int, jobdict: dict[str, Any], jobenvs: dict[str, str],
         jobhome: bytes, jobdata: bytes) -> bytes:
    """Serialize a job pack (the body of ``POST /disco/job/new``)."""
    fields = (json.dumps(jobdict).encode("ascii"), json.dumps(jobenvs).encode("ascii"),
              bytes(jobhome), bytes(jobdata))
    offsets = []
    offset = HEADER_SIZE
    for field in fields:
        offsets.append(offset)
        offset += len(field)
    return header(tuple(offsets), version) + b"".join(fields)  # type: ignore[arg-type]


# --- decoding ---------------------------------------------------------------------------

def read_header(data: bytes) -> tuple[int, tuple[int, int, int, int]]:
    """Check the header; return ``(version, (dict, envs, home, data offsets))``."""
    if len(data) < HEADER_SIZE:
        raise JobPackError("invalid header")
    magic_version, *offsets = struct.unpack_from(HEADER_FORMAT, data)
    dict_at, envs_at, home_at, data_at = offsets
    if (magic_version >> 16 != MAGIC or dict_at != HEADER_SIZE or envs_at <= dict_at
            or home_at < envs_at or data_at < home_at):
        raise JobPackError("invalid header")
    if len(data) < data_at:
        raise JobPackError(truncated_message(len(data), data_at))
    version = magic_version & 0xFFFF
    if version not in VERSIONS:
        raise JobPackError(f"unsupported version '{version}'")
    return version, (dict_at, envs_at, home_at, data_at)


def truncated_message(size: int, data_at: int) -> str:
    """A well-formed header whose offsets run past the end: the upload was cut short.

    Disco's own test looks for "invalid header" in this reply, so the words stay, after the
    cause a user can act on."""
    return (f"job pack truncated: {size} bytes received, but its header places the job data "
            f"at byte {data_at} (invalid header for a pack this short; resend the whole pack)")


def parse(data: bytes, validate: bool = True) -> JobPackParts:
    """Decode a job pack; with ``validate`` also check the jobdict as the master does."""
    version, (dict_at, envs_at, home_at, data_at) = read_header(data)
    view = memoryview(data)
    jobdict = _json_object(view[dict_at:envs_at], "jobdict")
    jobenvs = _json_object(view[envs_at:home_at], "jobenvs")
    parts = JobPackParts(version, jobdict, jobenvs, bytes(view[home_at:data_at]),
                         bytes(view[data_at:]))
    if validate:
        validate_jobpack(parts)
    return parts


def _json_object(raw: memoryview, what: str) -> dict[str, Any]:
    try:
        value = json.loads(bytes(raw))
    except (ValueError, UnicodeDecodeError) as e:
        raise JobPackError(f"invalid payload: {what} is not JSON ({e})") from None
    if not isinstance(value, dict):
        raise JobPackError(f"invalid payload: {what} is not a JSON object")
    return value


# --- validation -------------------------------------------------------------------------

def find(jobdict: dict[str, Any], key: str) -> Any:
    """``jobdict[key]``, or Disco's ``jobpack missing key`` error."""
    try:
        return jobdict[key]
    except KeyError:
        raise JobPackError(f"jobpack missing key '{key}'") from None


def validate_jobpack(parts: JobPackParts) -> None:
    """Raise :class:`JobPackError` unless the master can run this job pack."""
    jobdict = parts.jobdict
    validate_prefix(find(jobdict, "prefix"))
    worker = find(jobdict, "worker")
    if not isinstance(worker, str) or not worker:
        raise JobPackError("invalid payload: 'worker' must be a path in the job home")
    find(jobdict, "owner")
    _validate_jobenvs(parts.jobenvs)
    scheduler_options(parts.version, jobdict)
    compile_pipeline(parts.version, jobdict)
    job_inputs(parts.version, jobdict)
    validate_save_results(jobdict.get("save_results", False))


#: the longest prefix: a job's directories (``.<job>.partial-XXXXXXXX`` on the nodes) must fit
#: in a file name (255 bytes) with the ``@<mega>:<secs>:<micro>`` suffix
MAX_PREFIX_BYTES = 200


def validate_prefix(prefix: Any) -> str:
    """A job name prefix must be a string without ``/``, ``.`` or NUL, of at most 200 bytes."""
    if not isinstance(prefix, str) or "/" in prefix or "." in prefix:
        raise JobPackError("invalid prefix")
    if "\x00" in prefix or len(prefix.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        raise JobPackError(f"invalid prefix: at most {MAX_PREFIX_BYTES} bytes, no NUL")
    return prefix


def validate_save_results(value: Any) -> bool:
    if not isinstance(value, bool):
        raise JobPackError("invalid_job_save_results")
    return value


def _validate_jobenvs(jobenvs: dict[str, Any]) -> None:
    for key, value in jobenvs.items():
        if not isinstance(value, str):
            raise JobPackError(f"invalid payload: jobenvs value of '{key}' is not a string")


def scheduler_options(version: int, jobdict: dict[str, Any]) -> dict[str, Any]:
    """``{"max_cores", "force_local", "force_remote"}`` from the jobdict's ``scheduler``."""
    scheduler = find(jobdict, "scheduler")
    if not isinstance(scheduler, dict):
        raise JobPackError("invalid payload: 'scheduler' must be a JSON object")
    max_cores = scheduler.get("max_cores", DEFAULT_MAX_CORES)
    if isinstance(max_cores, bool) or not isinstance(max_cores, int) or max_cores < 1:
        raise JobPackError(f"invalid payload: scheduler max_cores {max_cores!r} "
                           f"must be a positive integer")
    return {"max_cores": max_cores,
            "force_local": bool(scheduler.get("force_local", False)),
            "force_remote": bool(scheduler.get("force_remote", False))}


# --- pipelines --------------------------------------------------------------------------

def compile_pipeline(version: int, jobdict: dict[str, Any]) -> list[Stage]:
    """The job's stages: v2 ``pipeline`` as given, v1 map/reduce flags compiled."""
    if version == VERSION1:
        return _pipeline_v1(jobdict)
    if version == VERSION2:
        return _pipeline_v2(find(jobdict, "pipeline"))
    raise JobPackError(f"unsupported version '{version}'")


def _pipeline_v1(jobdict: dict[str, Any]) -> list[Stage]:
    has_map = bool(jobdict.get("map?", False))
    has_reduce = bool(jobdict.get("reduce?", False))
    nr_reduces = find(jobdict, "nr_reduces")
    reduce_shuffle = bool(jobdict.get("reduce_shuffle?", False))
    stages = [Stage("map", "split"), Stage("map_shuffle", "group_node")] if has_map else []
    if has_reduce:
        if nr_reduces == 1:
            stages.append(Stage("reduce", "group_all"))
        else:
            stages.append(Stage("reduce", "group_label"))
            if reduce_shuffle:
                stages.append(Stage("reduce_shuffle", "group_node"))
    return stages


def _pipeline_v2(pipeline: Any) -> list[Stage]:
    if not isinstance(pipeline, list):
        raise JobPackError("Invalid job pipeline: expected a list of [stage, grouping] lists")
    stages = [_stage(index, spec) for index, spec in enumerate(pipeline)]
    names = [s.name for s in stages]
    if len(set(names)) != len(names):
        raise JobPackError("repeated_pipeline_stages")
    return stages


def _stage(index: int, spec: Any) -> Stage:
    if (not isinstance(spec, list) or len(spec) not in (2, 3)
            or not all(isinstance(x, str) for x in spec[:2])):
        raise JobPackError(f"Invalid job pipeline: element {index} must be "
                           f"[stage_name, grouping, concurrent], got {json.dumps(spec)}")
    name, grouping = spec[0], spec[1]
    concurrent = spec[2] if len(spec) == 3 else False
    if not isinstance(concurrent, bool):
        raise JobPackError(f"Invalid job pipeline: concurrent flag of stage '{name}' "
                           f"must be true or false")
    if grouping not in GROUPINGS:
        raise JobPackError(f"invalid grouping '<<\"{grouping}\">>'")
    return Stage(name, grouping, concurrent)


# --- inputs -----------------------------------------------------------------------------

def job_inputs(version: int, jobdict: dict[str, Any]) -> list[JobInput]:
    """The job's inputs as ``(label, size_hint, [replica urls])``."""
    if version == VERSION1:
        inputs = find(jobdict, "input")
        if not isinstance(inputs, list):
            raise JobPackError("invalid_job_inputs: 'input' must be a list of URLs")
        return [_input_v1(i) for i in inputs]
    inputs = find(jobdict, "inputs")
    if not isinstance(inputs, list) or not all(_valid_input_v2(i) for i in inputs):
        log.warning("invalid inputs in jobpack: %.200r", inputs)
        raise JobPackError("invalid_job_inputs")
    return [JobInput(label, size, list(urls)) for label, size, urls in inputs]


def _input_v1(spec: Any) -> JobInput:
    if isinstance(spec, str):
        urls = [spec]
    elif isinstance(spec, list) and spec and all(isinstance(u, str) for u in spec):
        urls = list(spec)
    else:
        raise JobPackError(f"invalid_job_inputs: {json.dumps(spec)[:200]} is neither a URL "
                           f"nor a list of replica URLs")
    if urls[0].startswith("dir://") and len(urls) > 1:
        log.warning("dir input %s: extra replicas %s dropped", urls[0], urls[1:])
        urls = urls[:1]
    return JobInput(0, 0, urls)


def _valid_input_v2(spec: Any) -> bool:
    return (isinstance(spec, list) and len(spec) == 3
            and _is_int(spec[0]) and _is_int(spec[1])
            and isinstance(spec[2], list) and all(isinstance(u, str) for u in spec[2]))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- job names --------------------------------------------------------------------------

def job_name(prefix: str, now: float | None = None) -> str:
    """``prefix@<hex MegaSecs>:<hex Secs>:<hex MicroSecs>`` for time ``now`` (default: now)."""
    micros = round((time.time() if now is None else now) * 1_000_000)
    mega, rest = divmod(micros, 10**12)
    secs, micro = divmod(rest, 10**6)
    return f"{prefix}@{mega:x}:{secs:x}:{micro:x}"
