"""The Python API inventory of DISCO.md §1 and §7.3(1): every module and name a Disco job,
script or test suite imports exists, and the small helpers of `disco.util`, `disco.compat`
and `disco.test` behave as Disco's."""
from __future__ import annotations

import gzip
import importlib
import io
import os
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.timeout(60)

#: module -> names of DISCO.md §1 (and §7.3) that must be importable from it
INVENTORY = {
    "disco": "JOBPACK_VERSION1 JOBPACK_VERSION2",
    "disco.core": "Job Disco DiscoError JobError CommError result_iterator client_version "
                  "Continue Stats",
    "disco.job": "Job SimpleJob JobChain JobPack JOBPACK_VERSION1",
    "disco.worker": "DISCO_WORKER_MAX_TIME active_task Worker MessageWriter Params IDedInput "
                    "ReplicaIter InputIter Input SerialInput ParallelInput MergedInput "
                    "BaseOutput Output",
    "disco.worker.classic.worker": "Worker Params get put this_name this_master this_host "
                                   "this_partition this_inputs",
    "disco.worker.classic.func": "notifier map partition combiner reduce reduce2 init "
                                 "default_partition make_range_partition noop nop_map "
                                 "nop_reduce sum_combiner sum_reduce map_input_stream "
                                 "reduce_input_stream map_output_stream reduce_output_stream "
                                 "chain_reader re",
    "disco.func": "chain_reader nop_reduce nop_map default_partition map_input_stream "
                  "reduce_output_stream",
    "disco.worker.classic.external": "package",
    "disco.worker.classic.netstring": "encode_netstring_str encode_netstring_fd "
                                      "decode_netstring_str decode_netstring_fd NetStringError",
    "disco.worker.classic.modutil": "find_modules ModUtilImportError locate_modules "
                                    "parse_function recurse_module user_paths",
    "disco.worker.modutil": "find_modules ModUtilImportError locate_modules parse_function "
                            "recurse_module user_paths",
    "disco.worker.pipeline.worker": "Stage Worker DiscoTask TaskInfo",
    "disco.worker.simple": "Worker",
    "disco.worker.task_io": "gzip_reader gzip_line_reader task_input_stream "
                            "string_input_stream task_output_stream disco_output_stream "
                            "disco_input_stream chain_reader input_stream output_stream "
                            "OutputStream InputStream old_netstr_reader re_reader "
                            "DiscoPlainOut plain_output_stream chain_stream default_stream "
                            "gzip_stream gzip_line_stream StreamCombiner",
    "disco.util": "netloc chainify dsorted flatten hexhash identity isiterable iskv iterify "
                  "ilen key kvgroup kvify listify partition reify shuffled argcount globalize "
                  "urljoin schemesplit localize urlsplit assert_url urlresolve urltoken jobname "
                  "external deref parse_dir proxy_url read_index ispartitioned inputexpand "
                  "inputlist save_oob load_oob format_size unix_sort encode decode sort_reader "
                  "disk_sort",
    "disco.ddfs": "unsafe_re InvalidTag canonizetag canonizetags istag tagname relativizetag "
                  "relativizetags DDFS",
    "disco.settings": "DiscoSettings",
    "disco.schemes": "import_scheme input_stream open open_chain",
    "disco.fileutils": "MB MIN_DISK_SPACE MAX_RECORD_SIZE HUNK_SIZE CHUNK_SIZE Chunker "
                       "DiscoOutputStream_v0 DiscoOutputStream_v1 DiscoOutputStream DiscoOutput "
                       "DiscoZipFile NonBlockingInput AtomicFile Wait ensure_path "
                       "ensure_free_space files get_valid_path",
    "disco.task": "jobdata Task",
    "disco.error": "DiscoError JobError DataError CommError",
    "disco.comm": "download upload request open_url open_local open_remote Connection "
                  "FileSource range_header auth_header",
    "disco.dPickle": "dumps loads",
    "disco.eventmonitor": "EventMonitor TextEventWriter ANSIEventWriter JSONEventWriter",
    "disco.sysutil": "available_memory set_mem_limit",
    "disco.compat": "bytes_to_str str_to_bytes pickle_loads pickle_dumps pickle_load "
                    "pickle_dump sort_cmd persistent_hash integer_types zip_longest "
                    "http_server socket_server httplib StringIO BytesIO file basestring "
                    "force_utf8 force_ascii urlencode",
    "disco.test": "TestCase TestJob TestPipe TestServer FailedReply TestRunner TestLoader "
                  "InterruptTest",
    "clx.settings": "Settings",
}

SCHEMES = ("disco", "dir", "file", "http", "https", "raw", "url", "tag", "hdfs", "redis",
           "s3", "discodb")


@pytest.mark.parametrize("module", sorted(INVENTORY))
def test_compat_every_name_of_the_inventory_exists(module):
    loaded = importlib.import_module(module)
    missing = [name for name in INVENTORY[module].split() if not hasattr(loaded, name)]
    assert not missing, f"{module} lacks {missing}"


@pytest.mark.parametrize("scheme", SCHEMES)
def test_compat_every_scheme_module_imports(scheme):
    module = importlib.import_module(f"disco.schemes.scheme_{scheme}")
    assert hasattr(module, "input_stream") or hasattr(module, "open")


# ---- disco.util -----------------------------------------------------------------------------

def test_compat_util_small_helpers():
    from disco import util
    assert util.netloc.parse("h:1") == ("h", "1") and str(util.netloc.parse("h:1")) == "h:1"
    assert util.listify("a") == ["a"] and util.listify([1]) == [1]
    assert util.kvify((1, 2)) == (1, 2) and util.kvify("x") == ("x", None)
    assert util.ilen(iter(range(5))) == 5
    assert util.iskv((1, 2)) and not util.iskv((1, 2, 3))
    assert util.isiterable([1]) and not util.isiterable("s")
    assert util.identity(7) == 7
    assert list(util.iterify("a")) == ["a"] and util.iterify([1, 2]) == [1, 2]
    assert list(util.flatten([1, [2, [3, (4,)]]])) == [1, 2, 3, 4]
    assert list(util.chainify([[1], [2, 3]])) == [1, 2, 3]
    assert util.partition([1, 2, 3, 4], lambda x: x % 2) == ([1, 3], [2, 4])
    assert sorted(util.shuffled(range(10))) == list(range(10))
    assert [(k, list(vs)) for k, vs in util.kvgroup([(1, "a"), (1, "b"), (2, "c")])] == \
        [(1, ["a", "b"]), (2, ["c"])]
    assert list(util.dsorted(iter([3, 1, 2]), buffer_size=1)) == [1, 2, 3]
    assert util.reify("os.path.join") is os.path.join
    assert util.format_size(2048) == "2.0KB"


def test_compat_util_urls():
    from disco import util
    assert util.urljoin(("http", util.netloc.parse("h:1"), "x")) == "http://h:1/x"
    assert util.schemesplit("raw://data") == ("raw", "data")
    assert util.localize("ddfs/vol0/blob/x", ddfs_data="/D", disco_data="/d") == "/D/vol0/blob/x"
    assert util.localize("disco/h/ab/j", ddfs_data="/D", disco_data="/d") == "/d/h/ab/j"
    assert util.proxy_url("disco://h/disco/x", proxy="http://p:1") == "http://p:1/disco/x"
    assert util.proxy_url("disco://h/disco/x", proxy="") == "disco://h/disco/x"
    assert util.urltoken("tag://u:tok@/name") == "tok"
    assert util.jobname("disco://h/disco/h/ab/Job@1:2:3/x") == "Job@1:2:3"
    assert util.ispartitioned(["dir://a/x", "dir://b/y"])
    assert not util.ispartitioned(["raw://a"])


def test_compat_util_index_files(tmp_path):
    from disco import util
    index = tmp_path / "index.results"
    index.write_text("0 disco://h/disco/a 3\n1 disco://h/disco/b 4\n0 disco://h/disco/c 5\n")
    url = f"file://{index}"
    assert list(util.read_index(url)) == [(0, "disco://h/disco/a", 3),
                                          (1, "disco://h/disco/b", 4),
                                          (0, "disco://h/disco/c", 5)]
    packed = tmp_path / "index.results.gz"
    packed.write_bytes(gzip.compress(index.read_bytes()))
    assert len(list(util.read_index(f"file://{packed}"))) == 3
    assert util.parse_dir(url, label=0) == ["disco://h/disco/a", "disco://h/disco/c"]
    # Disco sorts the index entries (label, url, size) first
    assert util.parse_dir(url) == ["disco://h/disco/a", "disco://h/disco/c", "disco://h/disco/b"]


def test_compat_util_sort_escaping():
    from disco import util
    data = b"a\x00b\x01c\x02d"
    assert b"\x00" not in util.encode(data)
    assert util.decode(util.encode(data)) == data


# ---- disco.compat ---------------------------------------------------------------------------

def test_compat_compat_functions():
    from disco import compat
    assert compat.bytes_to_str(b"\xc3\xa9") == "é" and compat.bytes_to_str("x") == "x"
    assert compat.str_to_bytes("é") == b"\xc3\xa9" and compat.str_to_bytes(b"x") == b"x"
    assert compat.persistent_hash("k") == compat.persistent_hash(b"k")
    assert compat.pickle_loads(compat.pickle_dumps({"a": 1})) == {"a": 1}
    assert isinstance(compat.BytesIO(b"x"), io.BytesIO)
    assert compat.basestring is str and compat.integer_types == (int,)
    argv, shell = compat.sort_cmd("f", "10%")
    assert argv[0] == "sort" and "-z" in argv and shell is False
    assert compat.urlencode({"a": "b c"}) == "a=b+c"
    assert list(compat.zip_longest([1], [])) == [(1, None)]


def test_compat_default_partition_and_range_partition():
    from disco.worker.classic import func
    parts = {func.default_partition(k, 7, None) for k in ("a", b"a")}
    assert len(parts) == 1 and 0 <= parts.pop() < 7
    assert list(func.sum_reduce([("a", 1), ("a", 2), ("b", 1)], None)) in (
        [("a", 3), ("b", 1)], [("b", 1), ("a", 3)])
    done = func.sum_combiner(None, None, {"a": 1}, True, None)
    assert dict(done) == {"a": 1}


# ---- disco.test -----------------------------------------------------------------------------

def test_compat_test_server_urls_and_failed_reply():
    from disco.test import FailedReply, TestServer

    def data(path: str) -> str:
        if path == "fail":
            raise FailedReply()
        return f"data {path}\n"
    server = TestServer.create(("127.0.0.1", 0), data)
    server.start()
    try:
        urls = server.urls(["a", ["b", "c"]])
        assert urls == [[server.address + "/a"], [server.address + "/b", server.address + "/c"]]
        with urllib.request.urlopen(urls[0][0], timeout=10) as reply:
            assert reply.read() == b"data a\n"
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(server.address + "/fail", timeout=10)
        assert failed.value.code == 500
    finally:
        server.stop()


def test_compat_test_job_and_pipe():
    from disco.test import TestCase, TestJob, TestPipe
    from disco.worker.pipeline.worker import Worker as PipelineWorker
    assert isinstance(TestPipe().worker, PipelineWorker)
    assert TestJob().profile in (True, False)
    case = TestCase("run")
    assert isinstance(case.test_server_address, tuple)
    assert case.test_server_address[1] == int(case.settings["DISCO_TEST_PORT"])
    with pytest.raises(AssertionError):
        case.assertAllEqual([1, 2], [1])  # length-sensitive, as Disco's zip_longest


# ---- input schemes without a cluster ----------------------------------------------------------

def test_compat_hdfs_scheme_reads_through_webhdfs():
    """hdfs://NN/path is read from NN's WebHDFS, following its redirect to a data node."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from disco.schemes import scheme_hdfs
    seen = []

    class WebHdfs(BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            if self.path.startswith("/webhdfs/v1/"):
                self.send_response(307)
                self.send_header("Location", f"http://127.0.0.1:{port}/datanode{self.path}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b"line one\nline two\n"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), WebHdfs)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"hdfs://127.0.0.1:{port}/user/me/data.txt"
        stream, size, _url = scheme_hdfs.input_stream(None, None, url, None)
        assert list(stream) == [b"line one\n", b"line two\n"] and size == 18
        assert seen[0] == "/webhdfs/v1/user/me/data.txt?op=OPEN"
    finally:
        server.shutdown()
        server.server_close()


def test_compat_optional_schemes_explain_missing_packages():
    from disco.error import DiscoError
    from disco.schemes import scheme_discodb, scheme_redis, scheme_s3
    assert scheme_redis.parse("redis://h:7000:2") == ("h", 7000, 2)
    assert scheme_s3.bucket_key("s3://b/k/x") == ("b", "k/x")
    assert scheme_discodb.parse("discodb:///p/db!query/a") == ("/p/db", "query", "a")
    for module, name, url in ((scheme_redis, "redis", "redis://h:1:0"),
                              (scheme_s3, "boto3", "s3://b/k"),
                              (scheme_discodb, "discodb", "discodb:///nothing")):
        try:
            importlib.import_module(name)
        except ImportError:
            with pytest.raises(DiscoError, match=name):
                module.open(url)
