"""A Faust codec for the Confluent Avro wire format, so agents send and read plain dicts."""

from __future__ import annotations

from typing import Any

from faust.serializers import codecs

from streams.codecs.avro import AvroSerde


class ConfluentAvroCodec(codecs.Codec):
    """Wraps an :class:`AvroSerde`; faust calls it for every value of the topic."""

    def __init__(self, serde: AvroSerde, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.serde = serde

    def _dumps(self, obj: Any) -> bytes:
        if hasattr(obj, "to_avro"):
            obj = obj.to_avro()
        return self.serde.encode(obj)

    def _loads(self, s: bytes) -> Any:
        return self.serde.decode(s)
