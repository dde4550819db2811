"""Service functions: plain keyword-argument functions, one transaction per public call."""
