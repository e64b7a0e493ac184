"""Load rehearsals: drive a profile into the running pipeline, watch it, report against SLOs.

``shipstream rehearse`` (streams/tools/cli/rehearse.py) wires these together: ``load`` (the load
generator in a thread), ``sources`` (worker counters from /metrics or Prometheus),
``sampling`` (rates, lag and latency per interval), ``analysis`` (the run's figures), ``slo``
(objectives and verdict), ``report`` and ``plots`` (the report directory) and ``runner``
(the sampling loop).
"""
