"""Pipeline stages used by the pipeline worker tests."""
from disco.worker.pipeline.worker import Stage


def split_words(interface, state, label, inp):
    out = interface.output(0)
    for line in inp:
        for word in line.split():
            out.add(word, 1)


def count_words(interface, state, label, inp):
    counts = {}
    for word, count in inp:
        counts[word] = counts.get(word, 0) + count
    out = interface.output(label)
    for word in sorted(counts):
        out.add(word, counts[word])


def by_length(interface, state, label, inp):
    for line in inp:
        for word in line.split():
            interface.output(len(word) % 3).add(word, 1)


def stage_init(interface, params):
    return {'calls': 0}


def remember(interface, state, label, inp):
    state['calls'] += 1
    for record in inp:
        state.setdefault('records', []).append(record)


def stage_done(interface, state):
    interface.output(0).add('calls', state['calls'])
    interface.output(0).add('records', sorted(state.get('records', [])))


def map_stage():
    return Stage('map', process=split_words)


def reduce_stage(**kw):
    return Stage('reduce', process=count_words, **kw)


def hunk_flags(fd, size, url):
    """An input stream yielding the ``is_compressed`` flag of each non-empty hunk."""
    from disco.fileutils import HUNK_HEADER, HUNK_HEADER_SIZE
    data = fd.read()
    offset = 0
    while offset + HUNK_HEADER_SIZE <= len(data):
        _version, compressed, _checksum, hunk_size = HUNK_HEADER.unpack_from(data, offset)
        if hunk_size:
            yield compressed
        offset += HUNK_HEADER_SIZE + hunk_size


def set_init(interface, params):
    return set()


def collect(interface, state, label, inp):
    state.update(inp)


def emit_flags(interface, state):
    interface.output(0).add('flags', sorted(state))


def flags_stage():
    """A stage that reports how its inputs' hunks were stored (not their records)."""
    from disco.worker.task_io import task_input_stream
    return Stage('flags', init=set_init, process=collect, done=emit_flags,
                 input_chain=[task_input_stream, hunk_flags])
