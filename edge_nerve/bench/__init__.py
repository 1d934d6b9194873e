"""Edge benchmarks over real processes: the control loop and the bare transport (loop.py)."""
