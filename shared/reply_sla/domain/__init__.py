"""Pure domain: models, the turn clock, policies and metrics. No I/O and no clock reads."""
