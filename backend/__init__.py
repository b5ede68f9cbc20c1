"""TPC Animate's application side: the backend service, perception, engines and the command line.

Imported as ``tpc_backend`` (the folder is ``backend/``). It depends on :mod:`tpc` (the method) and
:mod:`tpc_protocol` (the wire format); neither depends on it.
"""
