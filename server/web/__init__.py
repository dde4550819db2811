"""The HTTP layer: the all-in-one entry point, the routes, the request gate and hooks, the
polled fast path, the request lanes, the OpenAPI document and the pages."""
