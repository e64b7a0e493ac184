"""Benchmarks on the chaos stack: failover with and without standby replicas, rebalance on join,
cold restore rate (``python -m ops.bench failover|join|restore|all``). Each prints its figures and
writes ``.local/bench/<name>.json``; none of them is a timed test.
"""
