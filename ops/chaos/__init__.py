"""Chaos harness: kill, scale and restart a running pipeline under load, then prove nothing was
lost, duplicated or changed (``python -m ops.chaos.harness``).

Modules: ``config`` (options), ``stack`` (the second Kafka + registry on their own ports),
``fleet`` (worker processes), ``load`` (the generator in a thread), ``probe`` (health, lag and
recovery times), ``verify`` (the invariants, recomputed from the topics), ``report`` (the
result line and JSON), ``harness`` (the run itself).
"""
