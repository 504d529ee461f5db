"""A small signed "internet" on loopback: authoritative test servers with switchable
faults, a zone signer, and the loader for the project's zones/ hierarchy."""
