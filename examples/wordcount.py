#!/usr/bin/env python3
"""Disco's tutorial word count, runnable as is.

    python examples/wordcount.py [INPUT ...]

INPUTs are URLs (http://, tag://, raw://, ...) or local file paths (sent as file://
URLs: the nodes must see the same files, as on a local cluster). With no inputs, a
demo corpus is generated (see examples/make_corpus.py). The master is DISCO_MASTER
(`disco start` runs one locally). Prints the 20 most frequent words.
"""
import os
import sys
import tempfile

from disco.core import Job, result_iterator


def map(line, params):
    for word in line.split():
        yield word, 1


def reduce(iter, params):
    from disco.util import kvgroup
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)


def as_url(arg):
    """Local paths become absolute file:// URLs; URLs pass unchanged."""
    if "://" in arg:
        return arg
    return "file://" + os.path.abspath(arg)


def demo_inputs():
    from disco.cli.corpus import write_corpus
    directory = os.path.join(tempfile.gettempdir(), "disco-demo-corpus")
    return write_corpus(directory)


if __name__ == "__main__":
    inputs = [as_url(arg) for arg in (sys.argv[1:] or demo_inputs())]
    job = Job().run(input=inputs, map=map, reduce=reduce)
    counts = {}
    for word, count in result_iterator(job.wait(show=False)):
        word = word.decode("utf-8", "replace") if isinstance(word, bytes) else word
        counts[word] = counts.get(word, 0) + count
    for word, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:20]:
        print(f"{count:8d}  {word}")
