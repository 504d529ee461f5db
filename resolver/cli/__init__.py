"""The command line: ``python -m resolver COMMAND ...``, one module per command; each
exposes ``add_parser(sub)``. :func:`main` and :func:`build_parser` are in :mod:`.main`."""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["build_parser", "main"]
