"""Fault injection: real processes, a real broker, faults at seeded random moments."""
