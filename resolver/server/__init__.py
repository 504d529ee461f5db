"""The local DNS port: UDP and TCP listeners (responses are built by resolver.answer)."""
