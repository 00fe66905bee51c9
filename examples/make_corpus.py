#!/usr/bin/env python3
"""Write the demo corpus (deterministic Zipf-distributed pseudo-English) to a directory.

    python examples/make_corpus.py [DIRECTORY] [--size BYTES] [--parts N]

Prints the paths written; feed them to `examples/wordcount.py` or `disco job`.
"""
import argparse

from disco.cli.corpus import write_corpus

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", default="demo-corpus")
    parser.add_argument("--size", type=int, default=300_000, help="bytes of text")
    parser.add_argument("--parts", type=int, default=4, help="number of files")
    args = parser.parse_args()
    for path in write_corpus(args.directory, args.size, args.parts):
        print(path)
