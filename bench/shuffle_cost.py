"""CPU of the Stage API's shuffle record paths: ``python -m bench.shuffle_cost [FILE]``.

Distinct's shuffle in one process: the sorted distinct words of one corpus file written as 8 map
outputs of ``(word, b"")`` records, then read back by one reader, with zlib level 2 hunks (what
Disco writes) and uncompressed hunks (``task_io.shuffle_output_stream``), alternating, median
of 3 rounds of process CPU time.
"""
import io
import statistics
import sys
import time

from disco.fileutils import DiscoOutputStream_v1, read_records

DEFAULT_FILE = "/tmp/disco-bench/full-42/text-00.txt"
MAPS = 8


def distinct_words(path):
    words = set()
    with open(path, "rb") as f:
        for line in f:
            words.update(line.split())
    return sorted(words)


def write_outputs(words, level):
    outputs = []
    for _ in range(MAPS):
        buffer = io.BytesIO()
        out = DiscoOutputStream_v1(buffer, compression_level=level)
        add = out.add
        for word in words:
            add(word, b"")
        out.close()
        outputs.append(buffer.getvalue())
    return outputs


def read_outputs(outputs):
    return sum(1 for data in outputs for _record in read_records(io.BytesIO(data)))


def measure(words, level):
    started = time.process_time()
    outputs = write_outputs(words, level)
    written = time.process_time()
    read_outputs(outputs)
    return written - started, time.process_time() - written, sum(map(len, outputs))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    words = distinct_words(argv[0] if argv else DEFAULT_FILE)
    runs = {2: [], 0: []}
    for _round in range(3):
        for level in runs:
            runs[level].append(measure(words, level))
    records = MAPS * len(words)
    for level, results in runs.items():
        write = statistics.median(r[0] for r in results)
        read = statistics.median(r[1] for r in results)
        print(f"zlib level {level}: write {write:.3f} s, read {read:.3f} s, "
              f"{results[0][2] / 2**20:.1f} MiB ({write / records * 1e6:.3f} / "
              f"{read / records * 1e6:.3f} us per record)")


if __name__ == "__main__":
    sys.exit(main())
