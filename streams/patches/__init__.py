"""Workarounds of pinned faust and aiokafka versions; README.md here is their index."""
