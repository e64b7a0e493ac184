"""What shipstream stores: one module per table.

Each says who writes it, its key, its changelog and its retention. Tables are declared on an
app by the role that owns them.

Keys are declared ``bytes`` so faust serializes them raw, exactly like the topic keys: with
``str`` it would JSON-encode them (``"SHP-1"`` with quotes), and then a key's changelog
partition and faust's ``table_route`` would disagree with murmur2 of the topic key. ``get``
and ``[]`` accept str; iteration yields bytes.
"""
