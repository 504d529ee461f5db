"""Iterative resolution (RFC 1034 s5.3.3): the only code that sends queries upstream."""
