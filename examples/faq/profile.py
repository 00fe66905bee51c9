"""A job profiled with cProfile (Disco's FAQ example; the module is called ``profile``
on purpose: a job module may share a standard-library module's name).

    cd examples/faq
    disco run profile.ProfileJob raw://hello raw://world | xargs disco wait
    disco pstats -k cumulative ProfileJob@...
"""
from disco.job import Job


class ProfileJob(Job):
    profile = True

    @staticmethod
    def map(entry, params):
        yield entry.strip(), 1
