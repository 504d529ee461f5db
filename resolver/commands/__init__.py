"""One module per ``python -m resolver`` command; each exposes ``add_parser(sub)``."""
