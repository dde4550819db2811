"""Load test of the deployed service: `python -m benchmarks.load` (`make load`)."""
