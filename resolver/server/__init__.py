"""The local DNS port: UDP and TCP listeners and response building."""
