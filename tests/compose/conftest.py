"""The compose test runs only through `make compose-test` (once per `make test`).

It builds images and starts a whole deployment, so `pytest tests` does not collect it: the
Makefile target sets SHIPSTREAM_COMPOSE_TEST=1 after ops/compose/local.sh has set podman up.
Without it pytest finds no test here, and `make compose-test` would fail on "no tests ran".
"""

from __future__ import annotations

import os

collect_ignore_glob = [] if os.environ.get("SHIPSTREAM_COMPOSE_TEST") == "1" else ["test_*.py"]
