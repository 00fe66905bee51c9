"""Inner join of CSV rows on their first column (Disco's util example).

    ddfs push data:both_sets left.csv right.csv   # or give the CSV files themselves
    python examples/util/simple_innerjoin.py data:both_sets out.csv

Every row ``key,a,b`` becomes ``(key, [a, b])``; the reduce (``sort=True``, so equal
keys arrive together) keeps the keys found in more than one row and writes
``key,<all their columns>`` to the output CSV. A bare name such as ``data:both_sets`` is
a DDFS tag, as in Disco.
"""
import csv
import io
import sys

from disco.core import Job, result_iterator


class CsvInnerJoiner(Job):
    partitions = 2
    sort = True

    def map(self, row, params):
        yield row[0], row[1:]

    @staticmethod
    def map_reader(fd, size, url, params):
        text = io.TextIOWrapper(fd, encoding='utf-8', newline='') if hasattr(fd, 'readable') \
            else (line.decode('utf-8') if isinstance(line, bytes) else line for line in fd)
        for row in csv.reader(text, delimiter=','):
            if row:
                yield row

    def reduce(self, rows_iter, out, params):
        from itertools import chain

        from disco.util import kvgroup
        for key, columns in kvgroup(rows_iter):
            merged = list(chain.from_iterable(columns))
            if len(merged) > 1:
                out.add(key, merged)


def main(argv):
    input_name = argv[1] if len(argv) > 1 else 'input.csv'
    output_name = argv[2] if len(argv) > 2 else 'output.csv'
    from simple_innerjoin import CsvInnerJoiner as Joiner  # importable on the nodes
    job = Joiner().run(input=[input_name])
    with open(output_name, 'w', newline='') as out:
        writer = csv.writer(out)
        for key, columns in result_iterator(job.wait(show=True)):
            writer.writerow([key] + columns)


if __name__ == '__main__':
    main(sys.argv)
