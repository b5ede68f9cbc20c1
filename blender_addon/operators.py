"""The buttons: Animate, Cancel, Re-attach, Delete on Backend, and the bone mapping helpers.

``bpy.ops.tpc.animate()`` is also the scripting entry point. Everything it needs from Blender
(poses through the camera, silhouettes, the photo's bytes) is gathered here on the main thread;
then :mod:`.jobs` takes over. In the UI it returns at once and frames arrive while the user works;
in background mode (``blender -b``, a render farm) it waits for the last frame, and a failure raises
from ``bpy.ops`` (so ``--python-exit-code 1`` makes the farm see it).
"""

from pathlib import Path

import bpy
import zmq
from bpy.props import BoolProperty

from . import jobs, pose_sources, preferences, reference_editor, reference_points, vse_strip
from .backend_address import AddressError, check_address, is_loopback
from .bone_mapping import COCO17_NAMES
from .job_files import frames_present, new_job_id
from .job_worker import Connection, Job, JobState, Submission
from .pose_export import PoseExportError
from .vendor.tpc_protocol.client import JobFailed, ProtocolError
from .vendor.tpc_protocol.errors import ErrorCode
from .vendor.tpc_protocol.keys import curve_key_problem


class InputError(Exception):
    """Something in the panel that must change before a job can start."""


_PREFERENCES = "Edit > Preferences > Add-ons > TPC Animate"


def _connection(context: bpy.types.Context, address: str, timeout: float) -> Connection:
    address = check_address(address, online_access=bpy.app.online_access)
    if is_loopback(address):
        return Connection(address, timeout)
    server_key, client_keys = preferences.get(context).curve_keys()
    if server_key is None or client_keys is None:
        raise InputError(
            f"The backend at {address} is on another machine, so the connection must be encrypted: enter the "
            f"backend's public key and generate your key pair in {_PREFERENCES}."
        )
    regenerate = "press Generate Key Pair there and add the new public key to the backend's allow folder"
    server_key = _curve_key(server_key, "The Backend Public Key", "paste the public-key value of the backend's server.key again")
    public, secret = (_curve_key(key, what, regenerate) for key, what in zip(client_keys, ("Your Public Key", "Your Secret Key")))
    if zmq.curve_public(secret.encode()).decode() != public:
        raise InputError(f"Your Public Key in {_PREFERENCES} does not belong to Your Secret Key: {regenerate}.")
    return Connection(address, timeout, server_key, (public, secret))


def _curve_key(text: str, what: str, remedy: str) -> str:
    """A CURVE key as ZeroMQ takes it (40 characters of Z85 text, 32 bytes), or InputError with a sentence."""
    key = text.strip()
    problem = curve_key_problem(key)
    if problem is not None:
        raise InputError(f"{what} in {_PREFERENCES} is not a CURVE key ({problem}): {remedy}.")
    return key


def _reference_bytes(settings) -> bytes:
    if not settings.reference_image:
        raise InputError("Choose a reference photo of the person in the TPC Animate panel.")
    path = bpy.path.abspath(settings.reference_image)
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise InputError(f"The reference photo {path} cannot be read ({error.strerror}): choose it again.") from None


def _reference_keypoints(settings) -> dict | None:
    """The keypoints placed by hand on the photo, when the panel says to send them."""
    if not settings.use_reference_points:
        return None
    image = reference_editor.photo(settings)
    if image is None:
        raise InputError("Blender cannot show the reference photo, so no keypoints can be placed on it: turn off Keypoints by Hand.")
    points = reference_editor.scene_points(settings)
    if reference_points.placed_body_points(points) < 2:
        raise InputError(
            "Place at least two body points on the photo (Image Editor, TPC tab, Edit Keypoints), or turn off Keypoints by Hand."
        )
    return reference_points.document(*image.size, points)


def _job_folder(settings, job_id: str) -> str:
    """The job's folder as stored in the scene: relative to the .blend when the output folder is."""
    output = settings.output_dir or "//tpc/"
    if output.startswith("//") and not bpy.data.filepath:
        raise InputError(
            f"The output folder {output} is relative to the .blend file, which is not saved yet: save the file "
            "or choose an absolute Output Folder."
        )
    return output.rstrip("/\\") + "/" + job_id + "/"


def _job_settings(settings) -> dict:
    """The job's settings; steps and guidance left out "as trained", so the backend's models folder decides,
    and ``independent`` sent only when chosen (backends before sequence calibration do not know it)."""
    chosen = {
        "engine": settings.engine, "seed": settings.seed, "groups": settings.groups, "tpc": settings.use_tpc,
        "person_tokens": settings.use_person_tokens,
    }  # fmt: skip
    if not settings.use_trained_settings:
        chosen |= {"steps": settings.steps, "guidance": settings.guidance}
    if settings.use_independent_frames:
        chosen["independent"] = True
    return chosen


def _finish_report(operator: bpy.types.Operator, settings) -> set[str]:
    """The outcome of a job waited for, as operator reports (an ERROR raises in scripts)."""
    if settings.state == JobState.DONE.value:
        operator.report({"INFO"}, f"{settings.frames_done} frames in {bpy.path.abspath(settings.job_folder)}")
        return {"FINISHED"}
    operator.report({"ERROR"}, settings.last_error or f"The job ended {settings.state.lower()}; {settings.frames_done} frames arrived.")
    return {"CANCELLED"}


def fail(operator: bpy.types.Operator, settings, message: str) -> set[str]:
    """Refuse with one sentence: in the panel (``scene.tpc.last_error``) and as the operator's error."""
    settings.last_error = message
    operator.report({"ERROR"}, message)
    return {"CANCELLED"}


def _launch(operator: bpy.types.Operator, scene: bpy.types.Scene, job: Job) -> set[str]:
    wait = bpy.app.background and operator.wait
    jobs.launch(scene, job, wait=wait)
    if wait:
        return _finish_report(operator, scene.tpc)
    operator.report({"INFO"}, f"Job {job.job_id} started; frames arrive in the Sequencer")
    return {"FINISHED"}


def _refuse_if_running(operator: bpy.types.Operator, scene: bpy.types.Scene) -> set[str] | None:
    if jobs.active_job(scene) is None:
        return None
    return fail(operator, scene.tpc, "A job is already running in this scene: wait for it or press Cancel first.")


_WAIT = BoolProperty(
    name="Wait",
    description="In background mode (blender -b), return only when the last frame has arrived; the UI never waits",
    default=True,
    options={"SKIP_SAVE", "HIDDEN"},
)


class TPC_OT_animate(bpy.types.Operator):
    """Send the reference photo and the poses to the backend; frames appear as a strip in the Sequencer"""

    bl_idname = "tpc.animate"
    bl_label = "Animate"
    bl_options = {"REGISTER"}

    wait: _WAIT

    def execute(self, context):
        scene = context.scene
        settings = scene.tpc
        if (refused := _refuse_if_running(self, scene)) is not None:
            return refused
        window_manager = context.window_manager

        def progress(done: int, total: int) -> None:
            window_manager.progress_update(done * 100 // total)

        settings.warnings = ""
        try:
            connection = _connection(context, settings.backend, settings.timeout)
            reference = _reference_bytes(settings)
            reference_keypoints = _reference_keypoints(settings)
            job_id = new_job_id(Path(bpy.data.filepath).stem or "untitled", scene.name)
            folder = _job_folder(settings, job_id)
            window_manager.progress_begin(0, 100)
            try:
                poses = pose_sources.collect_poses(context, progress)
            finally:
                window_manager.progress_end()
        except (AddressError, InputError, pose_sources.PoseSourceError, PoseExportError) as error:
            return fail(self, settings, str(error))

        settings.warnings = "\n".join(poses.warnings)
        for warning in poses.warnings:
            self.report({"WARNING"}, warning)
        if isinstance(poses, pose_sources.PoseFiles):
            submission = Submission(
                reference_image=reference, settings=_job_settings(settings), reference_keypoints=reference_keypoints,
                pose_documents=poses.documents, canvas=poses.canvas, fps=poses.fps,
            )  # fmt: skip
            total = 0  # the backend counts the frames; Accepted says how many
        else:
            submission = Submission(
                reference_image=reference,
                settings=_job_settings(settings),
                reference_keypoints=reference_keypoints,
                poses=poses.document,
                silhouettes=poses.silhouettes,
            )
            total = len(poses.document["frames"])
        job = Job(
            scene_key=scene.as_pointer(), job_id=job_id, folder=folder, folder_path=Path(bpy.path.abspath(folder)),
            connection=connection, submission=submission, replaces_job=settings.job_id,
        )  # fmt: skip
        settings.job_total = total
        return _launch(self, scene, job)


class TPC_OT_reattach(bpy.types.Operator):
    """Follow this scene's last job again and collect the frames the backend made meanwhile"""

    bl_idname = "tpc.reattach"
    bl_label = "Re-attach"
    bl_options = {"REGISTER"}

    wait: _WAIT

    def execute(self, context):
        scene = context.scene
        settings = scene.tpc
        if (refused := _refuse_if_running(self, scene)) is not None:
            return refused
        if not settings.job_id:
            return fail(self, settings, "This scene has no job to re-attach to: press Animate to start one.")
        try:
            connection = _connection(context, settings.job_backend or settings.backend, settings.timeout)
        except (AddressError, InputError) as error:
            return fail(self, settings, str(error))
        folder_path = Path(bpy.path.abspath(settings.job_folder))
        present = frames_present(folder_path) if folder_path.is_dir() else 0
        if settings.job_total and present >= settings.job_total:
            vse_strip.show_frames(scene, settings.job_id, settings.job_folder, present, total=present)
            settings.frames_done, settings.state, settings.last_error, settings.progress = present, JobState.DONE.value, "", 1.0
            self.report({"INFO"}, f"All {present} frames are already in {folder_path}")
            return {"FINISHED"}
        job = Job(
            scene_key=scene.as_pointer(), job_id=settings.job_id, folder=settings.job_folder, folder_path=folder_path,
            connection=connection, submission=None, start_frame=present,
        )  # fmt: skip
        return _launch(self, scene, job)


class TPC_OT_cancel(bpy.types.Operator):
    """Stop the running job; the frames that already arrived stay on disk and in the strip"""

    bl_idname = "tpc.cancel"
    bl_label = "Cancel"

    @classmethod
    def poll(cls, context):
        return context.scene is not None and jobs.active_job(context.scene) is not None

    def execute(self, context):
        job = jobs.active_job(context.scene)
        if job is None:
            self.report({"WARNING"}, "No job is running in this scene")
            return {"CANCELLED"}
        job.cancel()
        context.scene.tpc.status = "Cancelling"
        return {"FINISHED"}


class TPC_OT_delete_on_backend(bpy.types.Operator):
    """Delete this scene's last job on the backend to free its disk; the frames here and the strip stay"""

    bl_idname = "tpc.delete_on_backend"
    bl_label = "Delete on Backend"

    @classmethod
    def poll(cls, context):
        scene = context.scene
        return scene is not None and bool(scene.tpc.job_id) and jobs.active_job(scene) is None

    def execute(self, context):
        settings = context.scene.tpc
        job_id = settings.job_id
        try:
            client = _connection(context, settings.job_backend or settings.backend, settings.timeout).client()
        except (AddressError, InputError, ValueError) as error:
            return fail(self, settings, str(error))
        try:
            result = client.delete(job_id)
        except JobFailed as error:
            if error.code != ErrorCode.UNKNOWN_JOB:  # e.g. still running elsewhere: the sentence says what to do
                return fail(self, settings, f"The backend did not delete job {job_id}: {str(error).rstrip('.')}.")
            self.report({"INFO"}, f"The backend has no job {job_id} (already deleted)")
            return {"FINISHED"}
        except (ProtocolError, zmq.ZMQError) as error:
            return fail(self, settings, f"Job {job_id} was not deleted: {str(error).rstrip('.')}.")
        finally:
            client.close()
        settings.last_error = ""
        self.report({"INFO"}, f"Deleted job {job_id} on the backend ({result['freed_bytes'] / 1e6:.1f} MB freed); the frames here stay")
        return {"FINISHED"}


class TPC_OT_customize_mapping(bpy.types.Operator):
    """List every keypoint with the bone found for it, so that any of them can be changed"""

    bl_idname = "tpc.customize_mapping"
    bl_label = "Customize Bone Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.tpc
        armature = pose_sources.current_armature(context.scene)
        mapping = pose_sources.mapping_for(settings, armature) if armature is not None else None
        existing = {item.name for item in settings.keypoint_overrides}
        for index, name in enumerate(COCO17_NAMES):
            if name in existing:
                continue
            item = settings.keypoint_overrides.add()
            item.name = name
            point = mapping.points[index] if mapping is not None else None
            if point is not None:
                item.bone, item.end = point
        return {"FINISHED"}


class TPC_OT_reset_mapping(bpy.types.Operator):
    """Forget the chosen bones and use the automatic mapping again"""

    bl_idname = "tpc.reset_mapping"
    bl_label = "Automatic Bone Mapping"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        context.scene.tpc.keypoint_overrides.clear()
        return {"FINISHED"}


CLASSES = (TPC_OT_animate, TPC_OT_reattach, TPC_OT_cancel, TPC_OT_delete_on_backend, TPC_OT_customize_mapping, TPC_OT_reset_mapping)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
