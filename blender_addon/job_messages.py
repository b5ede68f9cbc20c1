"""What went wrong with a job, as the one sentence the panel shows (and what to do about it).

A failure reaches the user as ``scene.tpc.last_error`` and, in background mode, as the error that
``bpy.ops.tpc.animate()`` raises: one line, starting with a capital, ending with a full stop, naming
the job or folder concerned and the button that continues. The job worker decides *which* outcome
happened; the wording lives here, in one place, so that every path says the same thing the same way.

Plain Python (no bpy), so the sentences can be checked without Blender.
"""

from __future__ import annotations

import errno
from pathlib import Path

PREFERENCES = "Edit > Preferences > Add-ons > TPC Animate"


def sentence(error: BaseException | str) -> str:
    """An error's text as a sentence: capitalised, ending with a full stop."""
    text = str(error).strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."


def clause(error: BaseException) -> str:
    """An error's text to go inside a sentence (no closing full stop)."""
    return str(error).strip().rstrip(".")


def kept(folder: Path, frames_on_disk: int) -> str:
    """Where the frames that did arrive are (nothing when none did)."""
    return f"The frames that arrived are kept in {folder}." if frames_on_disk else ""


def join(*parts: str) -> str:
    """Sentences joined with single spaces, empty parts left out."""
    return " ".join(part.strip() for part in parts if part and part.strip())


def not_sent(error: BaseException) -> str:
    """The protocol cannot carry the job (e.g. too many pose files): refused before anything went out."""
    return join(sentence(error), "Nothing was sent.")


def backend_stopped(job_id: str, error: BaseException, kept_note: str) -> str:
    return join(f"The backend stopped job {job_id}: {clause(error)}.", kept_note)


def refused_anyway(job_id: str, error: BaseException) -> str:
    """Cancel was pressed while the Submit travelled, and the backend refused the job: the reason still matters."""
    return f"The backend refused job {job_id} anyway: {clause(error)}."


def version_mismatch(error: BaseException) -> str:
    return join(sentence(error), "Install the same TPC Animate release in Blender and on the backend.")


def unreachable(error: BaseException, button: str, kept_note: str) -> str:
    return join(sentence(error), f"Then press {button}.", kept_note)


def connection_broke(error: BaseException, kept_note: str) -> str:
    return join(f"The connection to the backend broke: {clause(error)}. Press Re-attach to continue.", kept_note)


def zmq_refused(address: str, error: BaseException, kept_note: str) -> str:
    """ZeroMQ refused a socket setting, e.g. a CURVE key that is not Z85."""
    reason = getattr(error, "strerror", None) or error
    return join(
        f"ZeroMQ cannot open a connection to the backend at {address} ({reason}): check the address and, for a "
        f"backend on another machine, the keys in {PREFERENCES}.",
        kept_note,
    )


def unexpected(error: BaseException, kept_note: str) -> str:
    """A bug: said in the panel rather than lost in a thread."""
    return join(f"Unexpected error in TPC Animate ({error!r}); please report it.", kept_note)


def cancel_not_confirmed(error: BaseException) -> str:
    return f"The backend did not confirm the cancel ({error}); it may still finish the job."


def cancel_not_sent(job_id: str) -> str:
    return (
        f"The backend stopped answering before it accepted job {job_id}, so the cancel could not be sent; if the "
        "job reached it, it runs on: press Re-attach, then Cancel."
    )


def disk_problem(folder: Path, error: OSError) -> str:
    if error.errno == errno.ENOSPC:
        problem = "the disk is full. Free some space"
    else:
        problem = f"{error.strerror or error}. Fix the folder (or choose another Output Folder)"
    return f"Cannot write frames to {folder}: {problem}, then press Re-attach to collect the remaining frames."
