"""The `disco` command (click): Disco 0.5.4's `bin/discocli.py` subcommands and options,
plus `demo`, settable `config`, and the internal `master` / `node` daemon entry points.

Layer: top (imports anything). This is the only place that configures logging for a
terminal; the daemons log to files (`disco.cli.daemon`). Errors print one line
(`Error: ...`) and exit 1; usage errors exit 2; `-v` shows tracebacks instead.
See docs/cli.md for every subcommand.
"""
from __future__ import annotations

import ast
import io
import json
import logging
import os
import sys
import zipfile
from typing import Any, Iterable, Sequence

import click

from disco import settings_table
from disco.cli import counters as counters_view
from disco.cli import daemon
from disco.cli.demo import run_demo
from disco.cli.program import (  # noqa: F401  (format_pipeline: re-exported for callers)
    CONTEXT_SETTINGS, CLIError, Program, format_pipeline, pass_program, wait_for_job,
)

log = logging.getLogger(__name__)

#: set by the group callback so main() knows whether to show tracebacks
_VERBOSE = False


@click.group(invoke_without_command=True, context_settings=CONTEXT_SETTINGS)
@click.option("-s", "--settings", "settings_file", type=click.Path(exists=True, dir_okay=False),
              help="Use this settings file (default: DISCO_SETTINGS_FILE, ~/.disco).")
@click.option("-v", "--verbose", is_flag=True,
              help="Print all settings and debug logs; show tracebacks on errors.")
@click.option("-t", "--token", help="DDFS read and write token.")
@click.option("-M", "--master", help="Master as HOST[:PORT] or URL (default: DISCO_MASTER).")
@click.pass_context
def cli(ctx: click.Context, settings_file, verbose, token, master) -> None:
    """Disco: distributed MapReduce. Run `disco COMMAND -h` for a command's options."""
    global _VERBOSE
    _VERBOSE = verbose
    configure_logging(verbose)
    program = ctx.ensure_object(Program)
    program.settings_file, program.verbose = settings_file, verbose
    program.token, program.master = token, master
    if verbose and ctx.invoked_subcommand not in ("master", "node"):
        print_settings(program.settings)
    if ctx.invoked_subcommand is None:
        click.echo(f"Disco master at {program.settings['DISCO_MASTER']}")


def configure_logging(verbose: bool) -> None:
    """Terminal logging for CLI commands (daemons reconfigure to files)."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def print_settings(settings) -> None:
    """-v: every setting, as Disco's CLI prints them (to stderr, keeping stdout clean)."""
    lines = [f"{key} = {settings[key]}" for key in sorted(settings.defaults)]
    click.echo("disco settings are:\n\t" + "\n\t".join(lines) + "\n", err=True)


# --------------------------------------------------------------------------------------
# Input helpers
# --------------------------------------------------------------------------------------
def read_inputs(inputs: Sequence[str]) -> list:
    """URL arguments, or lines of stdin when there are none (Disco's `Program.input`):
    whitespace-separated URLs on one line are replicas of one input."""
    if inputs:
        lines: Iterable[str] = inputs
    elif sys.stdin is not None and not sys.stdin.isatty():
        lines = [line for line in sys.stdin.read().splitlines() if line.strip()]
    else:
        lines = []
    return [maybe_replicas(line.split()) for line in lines]


def maybe_replicas(urls: list[str]):
    return urls[0] if len(urls) == 1 else urls


def literal_or_string(text: str) -> Any:
    """A Python literal (`4`, `True`, `[1,2]`) or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def reify(name: str) -> Any:
    """Disco's `reify`: a literal value, or an object named by a dotted path
    (`package.module.attribute`, importing the longest importable module prefix)."""
    import importlib
    value = literal_or_string(name)
    if value is not name:
        return value
    parts = name.split(".")
    for split in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:split])
        try:
            obj = importlib.import_module(module_name)
        except ModuleNotFoundError as e:
            if e.name and not module_name.startswith(e.name):
                raise
            continue
        try:
            for attr in parts[split:]:
                obj = getattr(obj, attr)
        except AttributeError:
            raise CLIError(f"{module_name} has no attribute {'.'.join(parts[split:])!r}")
        return obj
    raise CLIError(f"cannot import {name!r}: give a dotted name like package.module.Name "
                   f"(the current directory is on the path)")


def echo_replicas(results: Iterable) -> None:
    """One result per line; its replicas separated by tabs (Disco's format)."""
    for result in results:
        replicas = result if isinstance(result, (list, tuple)) else [result]
        click.echo("\t".join(str(r) for r in replicas).rstrip())


job_argument = click.argument("jobname")


# --------------------------------------------------------------------------------------
# Daemon control
# --------------------------------------------------------------------------------------
def master_daemon(program: Program) -> daemon.Master:
    return daemon.Master(program.settings)


def run_daemon_action(messages: Iterable[str]) -> None:
    try:
        for message in messages:
            click.echo(message)
    except daemon.DaemonError as e:
        raise CLIError(str(e), e.details) from None


@cli.command()
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the master.")
@pass_program
def start(program: Program, timeout: float) -> None:
    """Start the master (detached); it starts the node processes of the config table.

    Refuses when the master or a node of the config table would listen beyond loopback
    and the cluster has no secret (`disco secret` makes one)."""
    check_exposure(program.settings)
    run_daemon_action(master_daemon(program).start(timeout=timeout))


def check_exposure(settings) -> None:
    """`disco start`/`nodaemon`: no server beyond loopback without the cluster's secret."""
    from disco import auth
    from disco.master.config import ConfigFile
    config = settings.get_path("DISCO_MASTER_CONFIG")
    hosts = list(ConfigFile(config).hosts()) if os.path.exists(config) else []
    try:
        auth.require_secret(settings, [settings.get_str("DISCO_MASTER_HOST"), *hosts])
    except (auth.SecretRequired, auth.SecretFileError) as exc:
        raise CLIError(str(exc)) from None


@cli.command()
@click.option("--token", "show_token", is_flag=True,
              help="Print the client token (for Disco 0.5.4's client: "
                   "DISCO_MASTER=http://host:port/_secret/<token>) instead.")
@pass_program
def secret(program: Program, show_token: bool) -> None:
    """Create the cluster secret in DISCO_SECRET_FILE (mode 0600; never overwritten).

    Copy that file to every node (same path or their own DISCO_SECRET_FILE) and to the
    clients; the secret is never printed."""
    from disco import auth
    settings = program.settings
    path = settings.get_path("DISCO_SECRET_FILE")
    if show_token:
        value = auth.load_secret(settings)
        if not value:
            raise CLIError(f"no secret: DISCO_SECRET is unset and {path} does not exist "
                           "(run `disco secret`)")
        click.echo(auth.client_token(value))
        return
    if settings.get("DISCO_SECRET"):
        raise CLIError("DISCO_SECRET is set: the cluster already has a secret (unset it to "
                       "use a file)")
    if os.path.exists(path):
        try:
            auth.read_secret_file(path)  # complains about a bad mode
        except auth.SecretFileError as exc:
            raise CLIError(str(exc)) from None
        click.echo(f"the cluster secret is in {path} (kept)")
        return
    auth.write_secret_file(path)
    click.echo(f"wrote a new cluster secret to {path} (mode 0600): copy it to every node "
               "and client machine (DISCO_SECRET_FILE)")


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="Print the table as docs/settings.md has it.")
@pass_program
def settings_command(program: Program, markdown: bool) -> None:
    """Every setting: its value here, and its meaning (docs/settings.md)."""
    if markdown:
        click.echo(settings_table.markdown(), nl=False)
        return
    for row in settings_table.rows(program.settings):
        click.echo(f"{row['name']} = {row['value']!r}  # {row['type']}: {row['help']}")


@cli.command()
@click.option("--timeout", default=30.0, show_default=True,
              help="Seconds to wait after SIGTERM before SIGKILL.")
@pass_program
def stop(program: Program, timeout: float) -> None:
    """Stop the master (SIGTERM, then wait)."""
    run_daemon_action(master_daemon(program).stop(timeout=timeout))


@cli.command()
@click.option("--timeout", default=60.0, show_default=True, help="Seconds to wait for the master.")
@pass_program
def restart(program: Program, timeout: float) -> None:
    """Restart the master."""
    master = master_daemon(program)
    run_daemon_action(master.stop())
    run_daemon_action(master.start(timeout=timeout))


@cli.command()
@pass_program
def status(program: Program) -> None:
    """Display the running state of the master."""
    master = master_daemon(program)
    pid = master.pid
    suffix = f" (pid {pid}, {master.url})" if pid else ""
    click.echo(f"{master} {master.status()}{suffix}")


@cli.command()
@pass_program
def nodaemon(program: Program) -> None:
    """Run the master in the foreground, logging to the terminal (Ctrl-C stops it)."""
    settings = program.settings
    check_exposure(settings)
    settings.ensuredirs()
    logging.getLogger().setLevel(logging.DEBUG if program.verbose else logging.INFO)
    run_master(settings)


@cli.command()
@click.argument("host", required=False)
@pass_program
def debug(program: Program, host: str | None) -> None:
    """A Python shell connected to the master (Disco: an Erlang shell in the master).

    Prints the master's state (or HOST's node info) on stderr, then runs Python from
    stdin (interactively on a terminal) with `disco` (a Disco client), `ddfs` (a DDFS client)
    and `settings` in scope;
    e.g. `echo 'print(disco.joblist())' | disco debug`."""
    import code
    summary = debug_summary(program, host)
    scope = {"disco": program.disco, "ddfs": program.ddfs, "settings": program.settings}
    if sys.stdin is not None and sys.stdin.isatty():
        code.interact(banner=summary, local=scope, exitmsg="")
        return
    click.echo(summary, err=True)
    source = sys.stdin.read() if sys.stdin is not None else ""
    exec(compile(source, "<stdin>", "exec"), scope)  # noqa: S102 - the user's own script


def debug_summary(program: Program, host: str | None) -> str:
    """What `disco debug` shows first: the master, its nodes (or one node) and job counts."""
    info = program.disco.nodeinfo()
    if host is not None:
        if host not in info:
            raise CLIError(f"no node {host} in the config table (nodes: {', '.join(info)})")
        return f"{host}: {json.dumps(info[host], sort_keys=True)}"
    statuses: dict[str, int] = {}
    for _start, job_status, _name in program.disco.joblist():
        statuses[job_status] = statuses.get(job_status, 0) + 1
    connected = sum(1 for node in info.values() if node.get("connected"))
    jobs = ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) or "no jobs"
    return (f"Disco master at {program.settings['DISCO_MASTER']} "
            f"(version {program.disco.master_version()}): {connected}/{len(info)} nodes "
            f"connected; {jobs}. Names: disco, ddfs, settings.")


@cli.command(hidden=True)
@pass_program
def master(program: Program) -> None:
    """(internal) Run the master daemon, logging to DISCO_LOG_DIR/master.log."""
    settings = program.settings
    settings.ensuredirs()
    daemon.configure_daemon_logging(settings, "master")
    run_master(settings)


def run_master(settings) -> None:
    from disco.master.app import main as master_main
    pid_file = daemon.pid_path(settings, "master")
    daemon.write_pid(pid_file)
    try:
        master_main(settings)
    except KeyboardInterrupt:
        pass
    finally:
        daemon.remove_pid(pid_file)


@cli.command(hidden=True)
@click.option("--host", required=True, help="This node's host name (as in the config table).")
@click.option("--master", "master_url", required=True, help="The master's URL.")
@pass_program
def node(program: Program, host: str, master_url: str) -> None:
    """(internal) Run a node daemon for HOST, logging to DISCO_LOG_DIR/node-HOST.log."""
    from disco.node.app import main as node_main
    settings = program.settings
    daemon.configure_daemon_logging(settings, f"node-{host}")
    pid_file = daemon.pid_path(settings, f"node-{host}")
    daemon.write_pid(pid_file)
    try:
        node_main(settings, host, master_url)
    except KeyboardInterrupt:
        pass
    finally:
        daemon.remove_pid(pid_file)


# --------------------------------------------------------------------------------------
# Cluster information
# --------------------------------------------------------------------------------------
@cli.command()
@click.option("-f", "--file", "config_file", type=click.File("r"),
              help="Set the table from a JSON file ([[host, workers], ...] or {\"hosts\": ...}); "
                   "'-' reads stdin.")
@click.argument("pairs", nargs=-1)
@pass_program
def config(program: Program, config_file, pairs: tuple[str, ...]) -> None:
    """Print the config table (host<TAB>max_workers); with HOST WORKERS pairs or -f, set it.

    \b
    disco config                          print the table
    disco config localhost 4 node01:03 2  set it (node01:03 = node01..node03)
    disco config -f cluster.json          set it from a JSON file
    """
    table = config_table(config_file, pairs)
    if table is not None:
        program.disco.set_config(table)
    for host, workers in program.disco.get_config():
        click.echo(f"{host}\t{workers}")


def config_table(config_file, pairs: tuple[str, ...]) -> list[list[str]] | None:
    """The table to save, from -f or HOST WORKERS pairs; None to only print."""
    if config_file is not None and pairs:
        raise click.UsageError("give either -f FILE or HOST WORKERS pairs, not both")
    if config_file is not None:
        try:
            data = json.load(config_file)
        except json.JSONDecodeError as e:
            raise CLIError(f"{config_file.name}: not JSON: {e}") from None
        if isinstance(data, dict):
            data = data.get("hosts", [])
        if not isinstance(data, list) or not all(
                isinstance(row, list) and len(row) == 2 for row in data):
            raise CLIError(f"{config_file.name}: expected [[host, max_workers], ...]")
        return [[str(host), str(workers)] for host, workers in data]
    if not pairs:
        return None
    if len(pairs) % 2:
        raise click.UsageError("config arguments come in pairs: HOST MAX_WORKERS ...")
    table = []
    for host, workers in zip(pairs[::2], pairs[1::2]):
        if not workers.isdigit():
            raise click.UsageError(f"max_workers for {host} must be a number, not {workers!r}")
        table.append([host, workers])
    return table


@cli.command()
@pass_program
def nodeinfo(program: Program) -> None:
    """Print information about each node (host<TAB>info)."""
    for host, info in sorted(program.disco.nodeinfo().items()):
        click.echo(f"{host}\t{info}")


@cli.command()
@click.option("-S", "--status", "show_status", is_flag=True, help="Show each job's status.")
@pass_program
def jobs(program: Program, show_status: bool) -> None:
    """Print the jobs on the master, newest first."""
    for _start, job_status, name in program.disco.joblist():
        click.echo(f"{name}\t{job_status}" if show_status else name)


@cli.command(name="client_version")
def client_version_command() -> None:
    """Print the version of this client."""
    click.echo(client_version())


def client_version() -> str:
    try:
        from disco.core import client_version as version
        return version()
    except (ImportError, AttributeError):
        import disco
        return disco.__version__


@cli.command(name="master_version")
@pass_program
def master_version(program: Program) -> None:
    """Print the version of the master."""
    click.echo(program.disco.master_version())


# --------------------------------------------------------------------------------------
# Jobs
# --------------------------------------------------------------------------------------
@cli.command()
@job_argument
@click.option("-o", "--offset", default=0, type=int, help="Byte offset into the event log.")
@pass_program
def events(program: Program, jobname: str, offset: int) -> None:
    """Print the raw events of a job."""
    text = program.disco.rawevents(program.job_history(jobname), offset=offset)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    click.echo(text, nl=not text.endswith("\n"))


@cli.command()
@job_argument
@click.option("--json", "as_json", is_flag=True, help="Print the counters as JSON.")
@click.option("--tasks", is_flag=True, help="Include each task's counters (with --json).")
@pass_program
def counters(program: Program, jobname: str, as_json: bool, tasks: bool) -> None:
    """Print a job's counters: per stage and user counters (docs/counters.md)."""
    summary = program.disco.counters(program.job_history(jobname), tasks=tasks)
    if as_json:
        click.echo(json.dumps(summary, indent=1, sort_keys=True))
    else:
        click.echo(counters_view.render(summary), nl=False)


@cli.command()
@job_argument
@pass_program
def jobdict(program: Program, jobname: str) -> None:
    """Print the jobdict of a job."""
    name = program.job_history(jobname)
    click.echo(name)
    for key, value in program.disco.jobpack(name).jobdict.items():
        click.echo(f"\t{key}\t{value}")


@cli.command()
@click.argument("jobnames", nargs=-1, required=True)
@pass_program
def kill(program: Program, jobnames: tuple[str, ...]) -> None:
    """Kill the named jobs."""
    for jobname in jobnames:
        program.disco.kill(program.job_history(jobname))


@cli.command()
@click.argument("jobnames", nargs=-1, required=True)
@pass_program
def purge(program: Program, jobnames: tuple[str, ...]) -> None:
    """Purge the named jobs (delete their records and data)."""
    for jobname in jobnames:
        program.disco.purge(program.job_history(jobname))


@cli.command()
@job_argument
@pass_program
def results(program: Program, jobname: str) -> None:
    """Print the results of a job (one per line, replicas tab-separated)."""
    name = program.job_history(jobname)
    job_status, urls = program.disco.results(name)
    if job_status == "unknown job":
        raise CLIError(f"unknown job {name}")
    echo_replicas(urls)


@cli.command()
@job_argument
@click.option("-S", "--stage", required=True, help="The stage whose results to print.")
@pass_program
def stageresults(program: Program, jobname: str, stage: str) -> None:
    """Print the results of one stage of a job."""
    echo_replicas(program.disco.stageresults(program.job_history(jobname), stage))


@cli.command()
@job_argument
@click.option("--timeout", type=float, default=None, help="Give up after this many seconds.")
@pass_program
def wait(program: Program, jobname: str, timeout: float | None) -> None:
    """Wait for a job to finish and print its results (with progress on a terminal)."""
    echo_replicas(wait_for_job(program, program.job_history(jobname), timeout))


@cli.command()
@click.argument("jobclass")
@click.argument("inputs", nargs=-1)
@click.option("-n", "--name", help="Prefix of the job name.")
@click.option("-m", "--map", "map_", help="The map function (dotted name).")
@click.option("-r", "--reduce", "reduce_", help="The reduce function (dotted name).")
@click.option("--save", help="Save results to DDFS? (True/False)")
@click.option("--profile", help="Profile the job? (True/False)")
@click.option("--partitions", help="Number of partitions.")
@click.option("-S", "--scheduler", nargs=2, multiple=True, metavar="KEY VALUE",
              help="Add a scheduler option (e.g. -S max_cores 4).")
@click.option("-P", "--param", nargs=2, multiple=True, metavar="KEY VALUE",
              help="Add a job argument.")
@click.option("-w", "--wait", "wait_", is_flag=True,
              help="Wait for the job (progress on a terminal) and print its results.")
@pass_program
def run(program: Program, jobclass, inputs, name, map_, reduce_, save, profile, partitions,
        scheduler, param, wait_) -> None:
    """Create an instance of JOBCLASS (a dotted name) and run it; print the job name.

    Input URLs are arguments, or lines of stdin when none are given."""
    sys.path.insert(0, os.getcwd())
    job_class = reify(jobclass)
    jobargs: dict[str, Any] = {key: literal_or_string(value) for key, value in param}
    for key, value in (("map", map_), ("reduce", reduce_)):
        if value is not None:
            jobargs[key] = reify(value)
    for key, value in (("save", save), ("profile", profile), ("partitions", partitions)):
        if value is not None:
            jobargs[key] = literal_or_string(value)
    job_inputs = read_inputs(inputs)
    if job_inputs:
        jobargs["input"] = job_inputs
    if scheduler:
        jobargs["scheduler"] = {key: literal_or_string(value) for key, value in scheduler}
    job = job_class(name=name, master=program.disco, settings=program.settings)
    job.run(**jobargs)
    click.echo(job.name)
    if wait_:
        echo_replicas(wait_for_job(program, job.name))


@cli.command()
@click.argument("file", type=click.File("rb"), default="-")
@pass_program
def submit(program: Program, file) -> None:
    """Submit a job pack from FILE (default stdin); print the job name."""
    data = file.read()
    if not data:
        raise CLIError("empty job pack")
    click.echo(program.disco.submit(data))


@cli.command()
@click.argument("worker", type=click.Path(exists=True, dir_okay=False))
@click.argument("inputs", nargs=-1)
@click.option("-m", "--has-map", is_flag=True, help="Set the map phase flag of the jobdict.")
@click.option("-r", "--has-reduce", is_flag=True, help="Set the reduce phase flag of the jobdict.")
@click.option("-n", "--nr-reduces", default=1, show_default=True, type=int,
              help="Number of reduces in the reduce phase.")
@click.option("-o", "--owner", help="Owner of the job (default DISCO_JOB_OWNER).")
@click.option("-p", "--prefix", help="Prefix of the job name (default: worker's file name).")
@click.option("-S", "--scheduler", nargs=2, multiple=True, metavar="KEY VALUE",
              help="Add a key to the jobdict's scheduler field.")
@click.option("-e", "--env", nargs=2, multiple=True, metavar="NAME VALUE",
              help="Add a variable to the jobenvs.")
@click.option("-f", "--file", "files", multiple=True, type=click.Path(exists=True),
              help="Add a file or directory (recursively) to the job home.")
@click.option("-d", "--data", default="", help="Job data; read from a file if it starts with @.")
@click.option("-D", "--dump-jobpack", is_flag=True,
              help="Write the job pack to stdout instead of submitting it.")
@pass_program
def job(program: Program, worker, inputs, has_map, has_reduce, nr_reduces, owner, prefix,
        scheduler, env, files, data, dump_jobpack) -> None:
    """Build a raw (version 1) job pack around the WORKER executable and submit it.

    The worker goes to the root of the job home; input URLs are arguments, or lines of
    stdin when none are given. Prints the job name."""
    job_inputs = read_inputs(inputs)
    if not job_inputs:
        raise click.UsageError("no inputs: give input URLs as arguments or on stdin")
    worker_name = os.path.basename(worker)
    jobdict = {
        "input": job_inputs,
        "worker": worker_name,
        "map?": has_map,
        "reduce?": has_reduce,
        "nr_reduces": nr_reduces,
        "prefix": prefix or worker_name.split(".")[0],
        "scheduler": {key: literal_or_string(value) for key, value in scheduler},
        "owner": owner or program.settings["DISCO_JOB_OWNER"],
        "save_results": False,
        "save_info": "ddfs",
    }
    jobenvs = dict(env)
    jobhome = build_jobhome(worker, files)
    jobdata = read_jobdata(data)
    pack = encode_jobpack(jobdict, jobenvs, jobhome, jobdata)
    if program.verbose:
        describe_jobpack(jobdict, jobenvs, jobhome, jobdata)
    if dump_jobpack:
        sys.stdout.buffer.write(pack)
        sys.stdout.buffer.flush()
    else:
        click.echo(program.disco.submit(pack))


def build_jobhome(worker: str, paths: Iterable[str]) -> bytes:
    """A zip with the worker (executable) at its root, plus each -f file or directory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        add_to_zip(archive, worker, os.path.basename(worker), executable=True)
        for path in paths:
            base = os.path.basename(os.path.normpath(path))
            if os.path.isdir(path):
                for directory, _dirs, names in os.walk(path):
                    for filename in sorted(names):
                        full = os.path.join(directory, filename)
                        arcname = os.path.join(base, os.path.relpath(full, path))
                        add_to_zip(archive, full, arcname)
            else:
                add_to_zip(archive, path, base)
    return buffer.getvalue()


def add_to_zip(archive: zipfile.ZipFile, path: str, arcname: str, executable: bool = False) -> None:
    info = zipfile.ZipInfo.from_file(path, arcname)
    mode = os.stat(path).st_mode & 0o777
    if executable:
        mode |= 0o755
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(path, "rb") as f:
        archive.writestr(info, f.read())


def read_jobdata(data: str) -> bytes:
    if data.startswith("@"):
        try:
            with open(data[1:], "rb") as f:
                return f.read()
        except OSError as e:
            raise CLIError(f"cannot read job data from {data[1:]}: {e.strerror}") from None
    return data.encode("utf-8")


def encode_jobpack(jobdict: dict, jobenvs: dict, jobhome: bytes, jobdata: bytes) -> bytes:
    """A version-1 job pack (DISCO.md §2.6), validated as the master will."""
    from disco import JOBPACK_VERSION1
    from disco.protocol import jobpack
    data = jobpack.pack(JOBPACK_VERSION1, jobdict, jobenvs, jobhome, jobdata)
    jobpack.parse(data, validate=True)
    return data


def describe_jobpack(jobdict: dict, jobenvs: dict, jobhome: bytes, jobdata: bytes) -> None:
    """-v: the job pack's parts, as Disco's `disco job -v` prints them (on stderr)."""
    lines = ["jobdict:"] + [f"\t{k}\t{v}" for k, v in jobdict.items()]
    lines += ["jobenvs:"] + [f"\t{k}\t{v}" for k, v in jobenvs.items()]
    lines += ["jobzip:"] + [f"\t{n}" for n in zipfile.ZipFile(io.BytesIO(jobhome)).namelist()]
    lines += ["jobdata:"] + [f"\t{line}" for line in
                             jobdata.decode("utf-8", "replace").splitlines()]
    click.echo("\n".join(lines), err=True)


@cli.command()
@click.argument("urls", nargs=-1)
@click.option("-r", "--resolve", is_flag=True, help="Resolve Disco internal URLs to HTTP.")
@click.option("-j", "--job-mode", is_flag=True, help="Arguments are job names: use their results.")
@pass_program
def deref(program: Program, urls, resolve: bool, job_mode: bool) -> None:
    """Dereference URLs (dir:// index files, tags) and print them, replicas tab-separated.

    URLs are arguments, or lines of stdin when none are given."""
    from disco.util import deref as deref_urls
    if job_mode:
        inputs = []
        for jobname in urls:
            _status, job_results = program.disco.results(program.job_history(jobname))
            inputs.extend(job_results)
    else:
        inputs = read_inputs(urls)
    for replicas in deref_urls(inputs, resolve=resolve):
        click.echo("\t".join(replicas))


@cli.command()
@click.argument("args", nargs=-1, required=True)
@pass_program
def oob(program: Program, args: tuple[str, ...]) -> None:
    """`oob JOB` lists a job's out-of-band keys; `oob get KEY JOB` prints a value."""
    from disco.job import Job
    if args[0] == "get":
        if len(args) != 3:
            raise click.UsageError("usage: disco oob get KEY JOBNAME")
        _get, key, jobname = args
        value = needs_ddfs(lambda: Job(name=program.job_history(jobname),
                                       master=program.disco).oob_get(key))
        if isinstance(value, bytes):
            sys.stdout.buffer.write(value + b"\n")
        else:
            click.echo(value)
        return
    if len(args) != 1:
        raise click.UsageError("usage: disco oob JOBNAME | disco oob get KEY JOBNAME")
    name = program.job_history(args[0])
    for key in needs_ddfs(lambda: Job(name=name, master=program.disco).oob_list()):
        click.echo(key)


@cli.command()
@job_argument
@click.option("-k", "--sort-stats", multiple=True, help="Keys to sort profiling statistics by.")
@pass_program
def pstats(program: Program, jobname: str, sort_stats: tuple[str, ...]) -> None:
    """Print the profiling statistics of a job run with profile=True."""
    name = program.job_history(jobname)
    stats = needs_ddfs(lambda: program.disco.profile_stats(name))
    stats.sort_stats(*(sort_stats or ("cumulative",))).print_stats()


def needs_ddfs(fetch):
    """Out-of-band data lives in DDFS: explain clearly when DDFS is not available."""
    try:
        return fetch()
    except (ImportError, NotImplementedError) as e:
        raise CLIError(f"this needs DDFS, which is not available here ({e})") from None


@cli.command(name="test")
@click.argument("names", nargs=-1)
@pass_program
def test_command(program: Program, names: tuple[str, ...]) -> None:
    """Run Disco test modules against the running master.

    Names are modules in $DISCO_HOME/tests or the current directory (all test_*.py of
    $DISCO_HOME/tests when none are given)."""
    from disco.test import TestRunner
    settings = program.settings
    tests_path = os.path.join(settings.get_path("DISCO_HOME"), "tests")
    if not names:
        names = tuple(discover_tests(tests_path))
        if not names:
            raise CLIError(f"no test_*.py modules in {tests_path}; name the tests to run")
    os.environ.update(settings.env())
    sys.path[:0] = [tests_path, os.getcwd()]
    outcome = TestRunner(settings).run(*names)
    if outcome is not None and hasattr(outcome, "wasSuccessful") and not outcome.wasSuccessful():
        sys.exit(1)


def discover_tests(path: str) -> list[str]:
    try:
        entries = sorted(os.listdir(path))
    except OSError:
        return []
    return [name[:-3] for name in entries if name.startswith("test_") and name.endswith(".py")]


@cli.command()
@click.option("--size", default=300_000, show_default=True,
              help="Bytes of demo text to generate.")
@click.option("--top", default=10, show_default=True, help="How many words to print.")
@click.option("--keep", is_flag=True, help="Leave a cluster started by the demo running.")
@pass_program
def demo(program: Program, size: int, top: int, keep: bool) -> None:
    """Run word count on a generated corpus (starting a local cluster if none runs)."""
    try:
        run_demo(program, size=size, top=top, keep=keep)
    except daemon.DaemonError as e:
        raise CLIError(str(e), e.details) from None


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------
def main(argv: Sequence[str] | None = None) -> None:
    """Console script `disco`: run the command, turning errors into one line + exit 1."""
    try:
        outcome = cli.main(args=list(argv) if argv is not None else None,
                           prog_name="disco", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as e:
        if _VERBOSE:
            raise
        click.echo(f"Error: {describe_error(e)}", err=True)
        sys.exit(1)
    sys.exit(outcome if isinstance(outcome, int) else 0)


def describe_error(error: Exception) -> str:
    """One line for an unexpected error: Disco's own errors speak for themselves."""
    from disco.error import DiscoError
    message = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, ImportError):
        return f"a part of disco is missing: {message}"
    if isinstance(error, DiscoError):
        return message or type(error).__name__
    if isinstance(error, OSError) and error.strerror:
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror}{where}"
    return f"{type(error).__name__}: {message} (run with -v for the traceback)"


if __name__ == "__main__":
    main()
