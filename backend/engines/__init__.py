"""Animation engines: each turns a prepared job into frames (see :mod:`tpc_backend.engines.base`)."""
