"""The fault-injection suite: ``python faults/run.py`` (see its docstring)."""
