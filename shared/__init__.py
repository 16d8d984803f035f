"""OneDoor's own shared package: event schemas, the bus, persistence helpers.

Services share only what is in here and the events on the bus — never tables.
"""
