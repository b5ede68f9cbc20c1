"""The backend service: the ROUTER loop (server.py), the job journal, intake, scheduler and workers.

Start it with ``tpc-backend serve``; :class:`~tpc_backend.service.server.BackendService` is the same
from Python.
"""

# Photos above this are refused. `tpc-backend` also hands it to OpenCV (OPENCV_IO_MAX_IMAGE_PIXELS)
# before OpenCV loads, so a hostile upload cannot make the decoder allocate gigabytes first.
MAX_IMAGE_PIXELS = 1 << 26  # 64 megapixels
