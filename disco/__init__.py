"""Disco: a distributed MapReduce framework with a distributed file system (DDFS).

A Python implementation of Disco 0.5.4's master, nodes, worker protocol and Python API.
"""
JOBPACK_VERSION1 = 0x0001
JOBPACK_VERSION2 = 0x0002

__version__ = "0.6.0"
