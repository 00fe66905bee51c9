"""The Stage API's output chains: interior stages write uncompressed hunks, the last stage
(the job's results) compressed ones, both in Disco's record format."""
import io

import pytest

from disco.fileutils import HUNK_HEADER, read_records
from disco.worker.pipeline.worker import Stage
from disco.worker.task_io import disco_output_stream, shuffle_output_stream

pytestmark = pytest.mark.timeout(30)

RECORDS = [(b"word%d" % i, i) for i in range(1000)] + [("str", None), ((1, 2), [b"x"])]


def write(output_stream):
    buffer = io.BytesIO()
    out = output_stream(buffer, None, "unused", None)
    for key, value in RECORDS:
        out.add(key, value)
    out.close()
    return buffer.getvalue()


def test_interior_stages_write_the_shuffle_stream():
    assert Stage.output_chain_for(0, 2) == Stage.interior_output_chain
    assert Stage.output_chain_for(1, 3) == Stage.interior_output_chain
    assert Stage.output_chain_for(1, 2) == Stage.default_output_chain
    assert Stage.output_chain_for(0, 1) == Stage.default_output_chain


@pytest.mark.parametrize("output_stream, compressed", [(shuffle_output_stream, 0),
                                                       (disco_output_stream, 1)])
def test_hunks_flag_their_compression_and_read_back(output_stream, compressed):
    data = write(output_stream)
    assert HUNK_HEADER.unpack_from(data)[1] == compressed
    assert list(read_records(io.BytesIO(data), len(data))) == RECORDS
