"""A validating DNSSEC recursive resolver for mail hosts, with a mail-security API."""

__version__ = "0.1.0"
