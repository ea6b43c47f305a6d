"""flows.codec: bytes <-> records for the wire contracts in ``schemas/``."""
