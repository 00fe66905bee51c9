"""Pure stage-input grouping: how one stage's outputs become the next stage's tasks.

Layer 1 (no I/O). Disco's five groupings (DISCO.md §1.7 "Groupings"; the Erlang names are
``split``, ``join_label``, ``join_node``, ``join_node_label`` and ``join_all``):

* ``split``            one task per data output, group ``(label, a random replica host)``;
                       a ``dir://`` output gives one task per distinct label in it.
* ``group_label``      one task per distinct label, host unassigned.
* ``group_node``       one task per host holding outputs, label 0 (``dir://`` inputs read as 'all').
* ``group_node_label`` one task per (label, host).
* ``group_all``        exactly one task ``(0, None)`` -- none when there are no outputs at all.

An output is a `DataOutput` (a labelled file with replicas) or a `DirOutput` (an index file on
one host listing labelled outputs). Outputs are referenced by `OutputRef` = (producing task id or
None for job inputs, index in that task's outputs, output).
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Iterable, NamedTuple, Union
from urllib.parse import urlsplit

GROUPINGS = ("split", "group_label", "group_node", "group_node_label", "group_all")

#: groupings whose groups name a host (the task prefers to run there)
HOST_GROUPINGS = ("split", "group_node", "group_node_label")


@dataclass(frozen=True)
class DataOutput:
    """A labelled data file; `replicas` are (url, host or None) pairs."""
    label: int
    size: int
    replicas: tuple[tuple[str, str | None], ...]

    def hosts(self) -> list[str]:
        return [host for _url, host in self.replicas if host]


@dataclass(frozen=True)
class DirOutput:
    """A ``dir://`` index file on `host` listing (label, size) of its labelled outputs."""
    host: str
    url: str
    labels: tuple[tuple[int, int], ...]

    def hosts(self) -> list[str]:
        return [self.host]


Output = Union[DataOutput, DirOutput]


class OutputRef(NamedTuple):
    """One output of one task (`producer` None = a job input)."""
    producer: int | None
    index: int
    output: Output


Group = tuple  # (label: int, host: str | None)


#: a URL whose host `urlsplit` would find as is: plain scheme and host, optional port
_PLAIN_HOST = re.compile(r"(?:disco|dir|http|https)://([A-Za-z0-9._-]+)(?::[0-9]*)?(?:[/?#]|$)")


def url_host(url: str) -> str | None:
    """The host part of a URL that names one (``disco://h/..``, ``http://h:p/..``), else None."""
    plain = _PLAIN_HOST.match(url)
    if plain is not None:  # every result URL of a task: skip urlsplit's general parsing
        return plain.group(1).lower()
    if "://" not in url or url.startswith(("raw://", "file://", "tag://")):
        return None
    try:
        return urlsplit(url).hostname or None
    except ValueError:
        return None


def output_from_result(url: str, labels: Iterable) -> Output:
    """Turn one entry of a node's ``task_done`` results into an output."""
    pairs = tuple((int(label), int(size)) for label, size in labels)
    if url.startswith("dir://"):
        return DirOutput(url_host(url) or "", url, pairs)
    label, size = pairs[0] if pairs else (0, 0)
    return DataOutput(label, size, ((url, url_host(url)),))


def output_from_input(label: int, size: int, urls: list[str]) -> Output:
    """Turn one job input (label, size hint, replica urls) into an output."""
    return DataOutput(int(label), int(size), tuple((u, url_host(u)) for u in urls))


def _unique_labels(labels: tuple[tuple[int, int], ...]) -> list[int]:
    return sorted({label for label, _size in labels})


def _pick_host(output: DataOutput, rng: random.Random) -> str | None:
    hosts = output.hosts()
    return rng.choice(hosts) if hosts else None


def _sort_key(group: Group) -> tuple:
    label, host = group
    return (str(type(label)), label, host or "")


def group_outputs(grouping: str, refs: Iterable[OutputRef],
                  rng: random.Random) -> list[tuple[Group, list[OutputRef]]]:
    """Group output references into ``[(group, [refs])]`` as Disco's master does."""
    refs = list(refs)
    if grouping == "split":
        return _split(refs, rng)
    if grouping == "group_all":
        kept = [r for r in refs if isinstance(r.output, DirOutput) or r.output.replicas]
        return [((0, None), kept)] if kept else []
    groups: dict[Group, list[OutputRef]] = {}
    for ref, group in _keys(grouping, refs, rng):
        groups.setdefault(group, []).append(ref)
    return [(g, groups[g]) for g in sorted(groups, key=_sort_key)]


def _split(refs: list[OutputRef], rng: random.Random) -> list[tuple[Group, list[OutputRef]]]:
    dirs, data = [], []
    for ref in refs:
        out = ref.output
        if isinstance(out, DirOutput):
            dirs.extend(((label, out.host), [ref]) for label in _unique_labels(out.labels))
        elif out.replicas:
            data.append(((out.label, _pick_host(out, rng)), [ref]))
    return dirs + data


def _keys(grouping: str, refs: list[OutputRef], rng: random.Random):
    """Yield (ref, group) pairs for the label/node groupings (a dir ref may yield several)."""
    for ref in refs:
        out = ref.output
        if isinstance(out, DirOutput):
            if not out.labels:
                continue
            if grouping == "group_node":
                yield ref, (0, out.host)
            else:
                host = out.host if grouping == "group_node_label" else None
                for label in _unique_labels(out.labels):
                    yield ref, (label, host)
        elif out.replicas:
            if grouping == "group_node":
                yield ref, (0, _pick_host(out, rng))
            elif grouping == "group_node_label":
                yield ref, (out.label, _pick_host(out, rng))
            elif grouping == "group_label":
                yield ref, (out.label, None)
            else:
                raise ValueError(f"unknown grouping {grouping!r}")


def input_record(input_id: int, ref: OutputRef, grouping: str, group: Group) -> list | None:
    """The worker-protocol INPUT record ``[id, "ok", label, [[rep_id, url], ...]]`` of a ref.

    Returns None when a dir input holds no data for the group's label.
    """
    out = ref.output
    if isinstance(out, DataOutput):
        return [input_id, "ok", out.label, [[i, u] for i, (u, _h) in enumerate(out.replicas)]]
    if grouping in ("group_node", "group_all"):
        return [input_id, "ok", "all", [[0, out.url]]]
    label = group[0]
    if label not in {lab for lab, _size in out.labels}:
        return None
    # the label travels in the record (as in Disco): the URL stays the plain index URL
    return [input_id, "ok", label, [[0, out.url]]]


def output_urls(output: Output) -> list[str]:
    """The result URLs of one output (a replica list), as Disco reports job/stage results."""
    if isinstance(output, DirOutput):
        return [output.url]
    return [f"{url}#{output.label}" for url, _host in output.replicas]


def locality(refs: Iterable[OutputRef], limit: int = 3) -> list[str]:
    """Hosts holding the most input bytes for a task, best first (at most `limit`)."""
    sizes: dict[str, int] = {}
    for ref in refs:
        out = ref.output
        size = sum(s for _l, s in out.labels) if isinstance(out, DirOutput) else out.size
        for host in out.hosts():
            sizes[host] = sizes.get(host, 0) + max(size, 1)
    return sorted(sizes, key=lambda h: (-sizes[h], h))[:limit]


# ---- persistence (the master's store keeps plans and task inputs/outputs as JSON) ---------

def output_to_json(output: Output) -> list:
    """``["dir", host, url, [[label, size], ...]]`` or ``["data", label, size, [[url, host]]]``."""
    if isinstance(output, DirOutput):
        return ["dir", output.host, output.url, [list(pair) for pair in output.labels]]
    return ["data", output.label, output.size, [list(pair) for pair in output.replicas]]


def output_from_json(value: list) -> Output:
    """Inverse of `output_to_json`; raises ValueError on a malformed value."""
    if not isinstance(value, list) or not value:
        raise ValueError(f"not a stored output: {value!r}")
    if value[0] == "dir":
        _kind, host, url, labels = value
        return DirOutput(host, url, tuple((int(lab), int(size)) for lab, size in labels))
    if value[0] == "data":
        _kind, label, size, replicas = value
        return DataOutput(label, int(size), tuple((url, host) for url, host in replicas))
    raise ValueError(f"unknown stored output kind {value[0]!r}")


def ref_to_json(ref: OutputRef) -> list:
    return [ref.producer, ref.index, output_to_json(ref.output)]


def ref_from_json(value: list) -> OutputRef:
    producer, index, output = value
    return OutputRef(producer, int(index), output_from_json(output))
