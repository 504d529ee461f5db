"""The validator: chains of trust from the anchors, verdicts on resolved answers."""
