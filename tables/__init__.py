"""What shipstream stores: one module per table.

Each says who writes it, its key, its changelog and its retention. Tables are declared on an
app by the role that owns them.
"""
