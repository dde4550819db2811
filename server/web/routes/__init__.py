"""Blueprints. Views parse input, call one service function and serialise the result."""
