"""The tools around the pipeline: the ``shipstream`` CLI, the load generator, the rehearsal.

None of this is imported by a worker (``tests/unit/test_runtime_imports.py`` checks it); the
tools call the runtime's clients. Installed with the ``shipstream[tools]`` extra (matplotlib).
"""
