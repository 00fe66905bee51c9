"""Word count as a Job class (Disco's util example).

    cd examples/util
    disco run wordcount.WordCount tag://data:texts | xargs disco wait | xargs ddfs xcat
"""
from disco.core import Job
from disco.util import kvgroup


class WordCount(Job):
    @staticmethod
    def map(line, params):
        for word in line.split():
            yield word, 1

    @staticmethod
    def reduce(iter, params):
        for word, counts in kvgroup(sorted(iter)):
            yield word, sum(counts)
