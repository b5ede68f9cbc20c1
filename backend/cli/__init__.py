"""Command-line entry points: ``tpc`` (calibrate, pose, submit, ...) and ``tpc-backend`` (serve, ...)."""
