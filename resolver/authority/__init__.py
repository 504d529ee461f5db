"""Authoritative data: the zone model shared by the test network's server and zone-check."""
