"""`ddfs`: Disco's DDFS command line (bin/ddfscli.py), on click.

Global options: -s/--settings FILE, -v/--verbose, -t/--token TOKEN, -M/--master HOST[:PORT].
URL/tag arguments are read from stdin when none are given (tokens on a line are replicas).
"""
from __future__ import annotations

import builtins
import importlib
import json
import os
import sys
from typing import Any, Iterator

import click

from disco.core import result_iterator, strip_label
from disco.ddfs import DDFS, istag
from disco.error import CommError, DiscoError
from disco.settings import DiscoSettings
from disco.worker.classic.func import chain_reader, map_input_stream


def _settings(ctx: click.Context) -> DiscoSettings:
    return ctx.obj["settings"]


def _ddfs(ctx: click.Context) -> DDFS:
    return DDFS(settings=_settings(ctx))


def _inputs(args: tuple[str, ...]) -> Iterator[list[str]]:
    """Arguments, or lines read from stdin when there are none; as in Disco, an argument or
    line may be a whitespace-separated list of replicas."""
    if args:
        for arg in args:
            if arg.split():
                yield arg.split()
        return
    for line in sys.stdin:
        if line.strip():
            yield line.split()


def _tags(ctx: click.Context, args: tuple[str, ...], prefix: bool) -> Iterator[str]:
    ddfs = _ddfs(ctx)
    for reps in _inputs(args):
        if prefix:
            yield from ddfs.list(reps[0])
        else:
            yield reps[0]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-s", "--settings", "settings_file", envvar="DISCO_SETTINGS_FILE",
              help="settings file")
@click.option("-v", "--verbose", is_flag=True, help="show settings and tracebacks")
@click.option("-t", "--token", envvar="DDFS_TOKEN", help="DDFS read and write token")
@click.option("-M", "--master", envvar="DISCO_MASTER_HOST", help="master HOST[:PORT]")
@click.pass_context
def cli(ctx: click.Context, settings_file: str | None, verbose: bool, token: str | None,
        master: str | None) -> None:
    """Disco Distributed Filesystem."""
    overrides: dict[str, Any] = {}
    if settings_file:
        os.environ["DISCO_SETTINGS_FILE"] = settings_file
    if token:
        overrides.update(DDFS_READ_TOKEN=token, DDFS_WRITE_TOKEN=token)
    if master:
        url = master if "://" in master else f"http://{master}"
        if ":" not in url.split("://", 1)[1]:
            url += f":{DiscoSettings()['DISCO_PORT']}"
        overrides["DISCO_MASTER"] = url
    ctx.obj = {"settings": DiscoSettings(**overrides), "verbose": verbose}


@cli.command()
@click.argument("tag")
@click.pass_context
def attrs(ctx, tag):
    """Print the attributes of TAG."""
    for key, value in (_ddfs(ctx).attrs(tag) or {}).items():
        click.echo(f"{key}\t{value}")


@cli.command()
@click.argument("tags", nargs=-1)
@click.option("-i", "--ignore-missing", is_flag=True)
@click.option("-p", "--prefix", is_flag=True, help="arguments are tag prefixes")
@click.pass_context
def blobs(ctx, tags, ignore_missing, prefix):
    """Print the replica lists of blobs reachable from TAGs."""
    ddfs = _ddfs(ctx)
    for tag in _tags(ctx, tags, prefix):
        for reps in ddfs.blobs(tag, ignore_missing=ignore_missing):
            click.echo("\t".join(reps))


def _blob_replicas(ctx, args, ignore_missing, prefix) -> Iterator[list[str]]:
    """Replica lists of the arguments (or stdin lines): tags (bare names or `tag://`; with
    -p prefixes) become the blobs they reach; `-` (stdin) and URLs stay as they are."""
    ddfs = _ddfs(ctx)
    for reps in _inputs(args):
        if prefix or (reps[0] != "-" and istag(reps[0]) and "://" not in reps[0]) \
                or reps[0].startswith("tag://"):
            tags = ddfs.list(reps[0]) if prefix else [reps[0]]
            for tag in tags:
                yield from ddfs.blobs(tag, ignore_missing=ignore_missing)
        else:
            yield reps


def _job_results(ctx: click.Context, names: tuple[str, ...]) -> tuple[str, ...]:
    """-j (Disco's job mode): the arguments are job names (`@`, `@?text` work); use the
    results of those jobs instead."""
    from disco.core import Disco
    disco = Disco(settings=_settings(ctx))
    urls: list[str] = []
    for name in names:
        _status, results = disco.results(_job_history(disco, name))
        for result in results:
            urls.append(" ".join(result) if isinstance(result, list) else result)
    return tuple(urls)


def _job_history(disco: Any, name: str) -> str:
    """Disco's job references: `@` = newest job, `@?text` = newest job containing text."""
    if name != "@" and not name.startswith("@?"):
        return name
    for _start, _status, job in disco.joblist():
        if name[2:] in job:
            return job
    raise click.ClickException(f"no job matches {name!r}")


def _replica_args(ctx, urls: tuple[str, ...], jobs: bool) -> tuple[str, ...]:
    return _job_results(ctx, urls) if jobs else urls


def _deref_replicas(ctx, args, ignore_missing, prefix) -> Iterator[list[str]]:
    """Blob replica lists of the arguments, with `dir://` index files expanded."""
    from disco.util import deref
    for reps in _blob_replicas(ctx, args, ignore_missing, prefix):
        if any(url.startswith("dir://") for url in reps):
            yield from deref([reps])
        else:
            yield reps


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("-j", "--job-mode", "jobs", is_flag=True,
              help="arguments are job names: print their results")
@click.option("-i", "--ignore-missing", is_flag=True)
@click.option("-p", "--prefix", is_flag=True)
@click.pass_context
def cat(ctx, urls, jobs, ignore_missing, prefix):
    """Print the raw contents of blobs (URLs or tags)."""
    ddfs = _ddfs(ctx)
    out = sys.stdout.buffer
    args = _replica_args(ctx, urls, jobs)
    for reps in _deref_replicas(ctx, args, ignore_missing, prefix):
        try:
            with ddfs.open_replicas(reps) as remote:
                while chunk := remote.read(1 << 20):
                    out.write(chunk)
        except CommError as exc:
            if not ignore_missing:
                raise
            click.echo(f"{exc}", err=True)
    out.flush()


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("-R", "--reader", default=None, help="reader function (dotted name)")
@click.option("-T", "--stream", default=None, help="input streams (comma-separated dotted names)")
@click.option("-j", "--job-mode", "jobs", is_flag=True,
              help="arguments are job names: print their results")
@click.option("-i", "--ignore-missing", is_flag=True)
@click.option("-p", "--prefix", is_flag=True)
@click.pass_context
def xcat(ctx, urls, reader, stream, jobs, ignore_missing, prefix):
    """Decode the records of blobs, tags or job results and print them tab-separated
    (Disco format by default; -R names another reader, -T comma-separated input streams)."""
    args = _replica_args(ctx, urls, jobs)
    inputs = [[strip_label(url) for url in reps]
              for reps in _blob_replicas(ctx, args, ignore_missing, prefix)]
    streams = [_import(name) for name in stream.split(",")] if stream else [map_input_stream]
    records = result_iterator(inputs, reader=_import(reader) if reader else chain_reader,
                              input_stream=streams, ddfs=_settings(ctx)["DISCO_MASTER"])
    for record in records:
        parts = record if isinstance(record, tuple) else (record,)
        click.echo("\t".join(_text(p) for p in parts))


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace").rstrip("\n") if isinstance(value, bytes) else str(
        value).rstrip("\n")


@cli.command()
@click.argument("tag")
@click.argument("token")
@click.option("-r", "--read", is_flag=True)
@click.option("-w", "--write", is_flag=True)
@click.pass_context
def chtok(ctx, tag, token, read, write):
    """Change the read and/or write token of TAG."""
    ddfs = _ddfs(ctx)
    if read or not write:
        ddfs.setattr(tag, "ddfs:read-token", token)
    if write or not read:
        ddfs.setattr(tag, "ddfs:write-token", token)


@cli.command()
@click.argument("tag")
@click.argument("urls", nargs=-1)
@click.option("-n", "--replicas", type=int)
@click.option("-F", "--forceon", multiple=True)
@click.option("-u", "--update", is_flag=True)
@click.option("-S", "--size", type=float, default=64, help="chunk size (MB)")
@click.option("-Z", "--max-record-size", type=float, default=1, help="MB")
@click.option("-R", "--reader", default=None)
@click.option("-T", "--stream", default=None,
              help="input streams that open each input (comma-separated dotted names)")
@click.option("-i", "--ignore-missing", is_flag=True)
@click.option("-p", "--prefix", is_flag=True)
@click.pass_context
def chunk(ctx, tag, urls, replicas, forceon, update, size, max_record_size, reader, stream,
          ignore_missing, prefix):
    """Chunk inputs (local files need ./, - is stdin) into Disco-format blobs tagged TAG."""
    ddfs = _ddfs(ctx)
    inputs = list(_blob_replicas(ctx, urls, ignore_missing, prefix))
    _tag_urls, blob_urls = ddfs.chunk(tag, inputs, replicas=replicas,
                                     forceon=forceon, update=update,
                                     chunk_size=int(size * 1024 * 1024),
                                     max_record_size=int(max_record_size * 1024 * 1024),
                                     reader=_import(reader) if reader else None,
                                     input_stream=_import_streams(stream))
    for reps in blob_urls:
        click.echo("created: " + "\t".join(reps))


def _import_streams(names: str | None) -> list | None:
    """-T: comma-separated dotted names, each a stream function or a tuple of them (like
    ``disco.worker.task_io.gzip_line_stream``); None when not given."""
    if not names:
        return None
    streams: list = []
    for name in names.split(","):
        found = _import(name.strip())
        streams.extend(found if isinstance(found, (tuple, list)) else [found])
    return streams


def _import(dotted: str) -> Any:
    """The object named by a dotted path (Disco's `reify`; -R and -T options). The module's
    `getattr` is the subcommand of that name, hence `builtins.getattr` here."""
    module, _, attr = dotted.rpartition(".")
    if not module:
        raise click.BadParameter(f"{dotted!r} is not a dotted name like package.module.name")
    return builtins.getattr(importlib.import_module(module), attr)


@cli.command()
@click.argument("src")
@click.argument("dst")
@click.pass_context
def cp(ctx, src, dst):
    """Copy the URL list of SRC to DST (overwriting)."""
    ddfs = _ddfs(ctx)
    ddfs.put(dst, ddfs.urls(src))


@cli.command()
@click.argument("tag")
@click.argument("attr")
@click.pass_context
def delattr(ctx, tag, attr):
    """Delete attribute ATTR of TAG."""
    _ddfs(ctx).delattr(tag, attr)


@cli.command()
@click.argument("tag")
@click.pass_context
def exists(ctx, tag):
    """Print True or False; exit status 0 when TAG exists."""
    found = _ddfs(ctx).exists(tag)
    click.echo(str(found))
    ctx.exit(0 if found else 1)


@cli.command()
@click.argument("tags", nargs=-1)
@click.option("-w", "--warn-missing", is_flag=True)
@click.option("-i", "--ignore-missing", is_flag=True)
@click.option("-p", "--prefix", is_flag=True)
@click.pass_context
def find(ctx, tags, warn_missing, ignore_missing, prefix):
    """Walk the tag graph from TAGs, printing each tag path (tab-separated, as Disco);
    -w reports missing tags as `Tag not found: PATH`."""
    ddfs = _ddfs(ctx)
    for tag in _tags(ctx, tags, prefix):
        for path, children, blob_urls in ddfs.walk(tag, ignore_missing=ignore_missing
                                                   or warn_missing):
            missing = children is None or (warn_missing and children == blob_urls == ())
            click.echo(("Tag not found: " if missing else "") + "\t".join(path))


@cli.command()
@click.argument("tag")
@click.pass_context
def get(ctx, tag):
    """Print the tag object of TAG."""
    click.echo(json.dumps(_ddfs(ctx).get(tag)))


@cli.command()
@click.argument("tag")
@click.argument("attr")
@click.pass_context
def getattr(ctx, tag, attr):  # noqa: A001 - Disco's subcommand name
    """Print attribute ATTR of TAG."""
    click.echo(_ddfs(ctx).getattr(tag, attr))


@cli.command()
@click.argument("prefixes", nargs=-1)
@click.option("-r", "--recursive", is_flag=True, help="also list blobs")
@click.pass_context
def ls(ctx, prefixes, recursive):
    """List tags starting with PREFIXes (-r: each followed by its blobs and an empty line)."""
    ddfs = _ddfs(ctx)
    for prefix in prefixes or ("",):
        for tag in ddfs.list(prefix):
            click.echo(tag)
            if recursive:
                try:
                    for reps in ddfs.blobs(tag):
                        click.echo("\t".join(reps))
                except CommError as exc:
                    click.echo(str(exc))
                click.echo()


def _push_items(files, recursive, tarball, compress, include, exclude, ddfs) -> Iterator[Any]:
    for path in files:
        if tarball:
            for name, buf, _size in ddfs.tarblobs(path, compress, include, exclude):
                click.echo(f"extracted {name}")
                yield buf, name
        elif os.path.isdir(path):
            if not recursive:
                click.echo(f"{path} is a directory (not pushing).")
                continue
            for root, _dirs, names in os.walk(path):
                for name in sorted(names):
                    full = os.path.join(root, name)
                    if (include and include not in full) or (exclude and exclude in full):
                        continue
                    yield full, DDFS.safe_name(os.path.relpath(full, path))
        else:
            yield path


@cli.command()
@click.argument("tag")
@click.argument("files", nargs=-1)
@click.option("-r", "--recursive", is_flag=True)
@click.option("-x", "--tarball", is_flag=True)
@click.option("-z", "--compress", is_flag=True)
@click.option("-E", "--exclude", default=None)
@click.option("-I", "--include", default=None)
@click.option("-n", "--replicas", type=int)
@click.option("-F", "--forceon", multiple=True)
@click.pass_context
def push(ctx, tag, files, recursive, tarball, compress, exclude, include, replicas, forceon):
    """Push FILEs (or directories, or tarballs) as blobs into TAG."""
    ddfs = _ddfs(ctx)
    if not files:
        files = tuple(line.strip() for line in sys.stdin if line.strip())
    items = list(_push_items(files, recursive, tarball, compress, include, exclude, ddfs))
    for item in items:
        _tag_urls, blob_urls = ddfs.push(tag, [item], replicas=replicas, forceon=forceon)
        name = item if isinstance(item, str) else item[1]
        click.echo(f"pushed: {name} -> {blob_urls[0][0]}")


@cli.command()
@click.argument("tag")
@click.argument("urls", nargs=-1)
@click.pass_context
def put(ctx, tag, urls):
    """Replace the URLs of TAG."""
    _ddfs(ctx).put(tag, list(_inputs(urls)))


@cli.command()
@click.argument("tags", nargs=-1)
@click.option("-p", "--prefix", is_flag=True)
@click.pass_context
def rm(ctx, tags, prefix):
    """Delete TAGs."""
    ddfs = _ddfs(ctx)
    for tag in _tags(ctx, tags, prefix):
        click.echo(ddfs.delete(tag))


@cli.command()
@click.argument("tag")
@click.argument("attr")
@click.argument("val")
@click.pass_context
def setattr(ctx, tag, attr, val):  # noqa: A001 - Disco's subcommand name
    """Set attribute ATTR of TAG to VAL."""
    _ddfs(ctx).setattr(tag, attr, val)


@cli.command()
@click.argument("tags", nargs=-1)
@click.option("-p", "--prefix", is_flag=True)
@click.pass_context
def stat(ctx, tags, prefix):
    """Print the fields of each tag except its urls, tab-separated (Disco's format)."""
    ddfs = _ddfs(ctx)
    for tag in _tags(ctx, tags, prefix):
        tag_object = ddfs.get(tag)
        click.echo("\t".join(_field(tag_object[key]) for key in tag_object if key != "urls"))


def _field(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


@cli.command()
@click.argument("tag")
@click.argument("urls", nargs=-1)
@click.pass_context
def tag(ctx, tag, urls):
    """Append URLs to TAG."""
    _ddfs(ctx).tag(tag, list(_inputs(urls)))


@cli.command()
@click.argument("tags", nargs=-1)
@click.pass_context
def touch(ctx, tags):
    """Create empty TAGs (existing ones are unchanged); prints nothing, as Disco."""
    ddfs = _ddfs(ctx)
    for tag in _tags(ctx, tags, False):
        ddfs.tag(tag, [])


@cli.command()
@click.argument("tags", nargs=-1)
@click.option("-p", "--prefix", is_flag=True)
@click.pass_context
def urls(ctx, tags, prefix):
    """Print the replica lists of TAGs."""
    ddfs = _ddfs(ctx)
    for tag in _tags(ctx, tags, prefix):
        for reps in ddfs.urls(tag):
            click.echo("\t".join(reps))


def main(argv: list[str] | None = None) -> None:
    """Entry point: errors print their message (tracebacks with -v) and exit 1."""
    verbose = "-v" in (argv or sys.argv[1:]) or "--verbose" in (argv or sys.argv[1:])
    try:
        code = cli.main(args=argv, prog_name="ddfs", standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        sys.exit(1)
    except (CommError, DiscoError, OSError, ValueError) as exc:
        if verbose:
            raise
        click.echo(f"ddfs: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
