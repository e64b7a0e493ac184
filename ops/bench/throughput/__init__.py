"""``make bench-throughput``: shipstream against a raw confluent-kafka loop and Quix Streams.

One broker, one preloaded input topic, one system after the other (see ``__main__``). The
peers' rules live in ``peer`` (stdlib + fastavro only, so the Quix app can import it from its
own virtualenv); importing this package does nothing.
"""
