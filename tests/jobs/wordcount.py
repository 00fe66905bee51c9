"""Word count with module-top imports used inside the job functions."""
from disco.util import kvgroup


def fun_map(line, params):
    for word in line.split():
        yield word, 1


def fun_reduce(iter, params):
    for word, counts in kvgroup(sorted(iter)):
        yield word, sum(counts)
