"""The outbox to the destinations: `destination.py` is the interface, `passes.py` one pass, `circuit.py` pauses."""
