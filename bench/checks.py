"""Result checks: every implementation's answer is compared with the reference answer.

The reference of word count, grep, distinct, tiny, chain and tasks is the single-process baseline's
answer (cached beside the corpus); sort and join are checked against the generator's manifest
(record count, order-independent checksum, order).
"""
from bench.corpus import SORT_KEY, sort_checksum_add


def to_bytes(x):
    return x.encode() if isinstance(x, str) else bytes(x)


class CheckFailed(AssertionError):
    pass


def _fail(msg):
    raise CheckFailed(msg)


def compare(workload, answer, reference, manifest):
    """Raise :class:`CheckFailed` unless ``answer`` is right; return a one-line summary."""
    if workload in ("wordcount", "tiny"):
        got = {to_bytes(k): int(v) for k, v in answer.items()}
        if got != reference:
            missing = len(set(reference) - set(got))
            extra = len(set(got) - set(reference))
            wrong = sum(1 for k in set(got) & set(reference) if got[k] != reference[k])
            _fail("word counts differ: %d words missing, %d extra, %d wrong counts (of %d)"
                  % (missing, extra, wrong, len(reference)))
        return "%d distinct words, %d words" % (len(got), sum(got.values()))
    if workload == "grep":
        if int(answer) != reference:
            _fail("grep: %s matching lines, expected %d" % (answer, reference))
        return "%d matching lines" % reference
    if workload == "distinct":
        got = [to_bytes(w) for w in answer]
        if got != reference:
            if sorted(got) == reference:
                _fail("distinct words are right but not in sorted order")
            _fail("distinct: %d words, expected %d (%d missing, %d extra)"
                  % (len(got), len(reference), len(set(reference) - set(got)),
                     len(set(got) - set(reference))))
        return "%d distinct words, in order" % len(got)
    if workload == "chain":
        got = {int(k): int(v) for k, v in answer.items()}
        if got != reference:
            _fail("chain: histogram %r, expected %r" % (sorted(got.items()),
                                                        sorted(reference.items())))
        return "%d buckets" % len(got)
    if workload == "tasks":
        if tuple(answer) != tuple(reference):
            _fail("tasks: (count, sum of ids) %r, expected %r" % (tuple(answer), reference))
        return "%d task outputs" % reference[0]
    if workload == "join":
        exp = (manifest["join"]["rows"], manifest["join"]["digest"])
        if tuple(answer) != exp:
            _fail("join: (rows, digest) %r, expected %r" % (tuple(answer), exp))
        return "%d joined rows" % exp[0]
    if workload == "sort":
        # answer: the summary of a SortChecker
        exp = (manifest["sort"]["records"], manifest["sort"]["checksum"])
        if answer["error"]:
            _fail("sort: " + answer["error"])
        if (answer["records"], answer["checksum"]) != exp:
            _fail("sort: %d records (checksum %d), expected %d (checksum %d)"
                  % (answer["records"], answer["checksum"], exp[0], exp[1]))
        return "%d records in order in %d segment(s)" % (exp[0], answer["segments"])
    raise ValueError(workload)


class SortChecker:
    """Checks sorted output given as segments (output files / job results) of records.

    Each segment must be sorted by its 10-byte key; the segments, ordered by their first keys,
    must not overlap.  Counts records and sums the order-independent checksum.
    """

    def __init__(self):
        self.records = 0
        self.checksum = 0
        self.ranges = []
        self.error = None

    def segment(self, records, name="?"):
        """``records``: iterable of whole records (bytes, no newline)."""
        first = last = None
        n = 0
        acc = self.checksum
        for rec in records:
            key = rec[:SORT_KEY]
            if last is not None and key < last and self.error is None:
                self.error = "segment %s out of order at record %d: %r after %r" % (
                    name, n, key, last)
            if first is None:
                first = key
            last = key
            acc = sort_checksum_add(acc, rec)
            n += 1
        self.checksum = acc
        self.records += n
        if n:
            self.ranges.append((first, last, name))

    def summary(self):
        ranges = sorted(self.ranges)
        for (f1, l1, n1), (f2, l2, n2) in zip(ranges, ranges[1:]):
            if f2 < l1 and self.error is None:
                self.error = "segments %s and %s overlap (%r..%r vs %r..%r)" % (
                    n1, n2, f1, l1, f2, l2)
        return {"records": self.records, "checksum": self.checksum, "error": self.error,
                "segments": len(self.ranges)}


def check_sorted_files(paths):
    chk = SortChecker()
    for p in paths:
        with open(p, "rb") as f:
            chk.segment((line.rstrip(b"\n") for line in f), p)
    return chk.summary()
