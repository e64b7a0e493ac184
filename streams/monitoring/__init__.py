"""Watching the pipeline from outside the agents: consumer lag from the broker, metric names."""
