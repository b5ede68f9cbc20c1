"""The two kinds of progress callback long work takes.

- :data:`ProgressCallback` ``progress(fraction, message)``: how far a job is, in [0, 1] over the whole
  job, with a sentence; what engines report and what a job's PROGRESS messages carry. Its parts
  (denoising steps, frames) need not count the same things.
- :data:`CountCallback` ``count(done, total)``: how many of a known number of items are finished
  (frames calibrated, video frames read); what the command line's progress bar draws, with a rate.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[float, str], None]
CountCallback = Callable[[int, int], None]
