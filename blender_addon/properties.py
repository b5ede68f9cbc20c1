"""``scene.tpc``: the settings of a shot and the state of its job, saved in the .blend.

This is the scripting contract other tools rely on (render-farm scripts set these and call
``bpy.ops.tpc.animate()``), so names are stable and match the protocol's settings. The job's id,
backend and folder live here too: that is what lets a user reopen the file tomorrow and re-attach to
the job the backend kept working on.
"""

import os

import bpy
from bpy.props import (
    BoolProperty,
    CollectionProperty,
    EnumProperty,
    FloatProperty,
    FloatVectorProperty,
    IntProperty,
    PointerProperty,
    StringProperty,
)  # fmt: skip

from .bone_mapping import COCO17_NAMES
from .job_worker import JobState

DEFAULT_BACKEND = "tcp://127.0.0.1:5555"
THUMBNAIL_PROPERTY = "tpc_thumbnail"  # on an image the add-on loaded only to show the reference photo
# Blender 5.0 asks paths to declare that they may start with // (relative to the .blend); older
# versions do not know the option, and every path supported it.
_RELATIVE_PATH = {"PATH_SUPPORTS_BLEND_RELATIVE"} if "is_path_supports_blend_relative" in bpy.types.Property.bl_rna.properties else set()

JOB_STATES = tuple((state.value, state.label, state.description) for state in JobState)


def _reference_changed(settings: "TPCSettings", _context) -> None:
    """Show the new photo's thumbnail, and free the image the previous one needed if nothing else uses it."""
    previous = settings.reference_thumbnail
    settings.reference_thumbnail = _thumbnail(bpy.path.abspath(settings.reference_image))
    if previous is not None and previous != settings.reference_thumbnail:
        _free_if_unused(previous)


def _thumbnail(path: str) -> bpy.types.Image | None:
    """The photo as an image datablock (one already open is shared); None when Blender cannot read it."""
    if not os.path.isfile(path):
        return None
    count = len(bpy.data.images)
    try:
        image = bpy.data.images.load(path, check_existing=True)
    except RuntimeError:
        return None
    if len(bpy.data.images) > count:
        image[THUMBNAIL_PROPERTY] = True
    if image.size[0] == 0:  # not an image Blender reads; the backend still gets the bytes and says so
        _free_if_unused(image)
        return None
    return image


def _free_if_unused(image: bpy.types.Image) -> None:
    """Remove an image the add-on loaded for a thumbnail once no scene (nor anything else) uses it."""
    if image.get(THUMBNAIL_PROPERTY) and image.users == 0:
        bpy.data.images.remove(image)


def _is_armature(_settings, obj: bpy.types.Object) -> bool:
    return obj.type == "ARMATURE"


class TPCKeypointOverride(bpy.types.PropertyGroup):
    """A user's choice of bone for one keypoint; an empty bone means the automatic mapping."""

    # `name` (inherited) holds the keypoint name, e.g. "left_wrist".
    bone: StringProperty(name="Bone", description="Bone whose head or tail is this keypoint (empty: automatic)")
    end: EnumProperty(
        name="End",
        items=(("HEAD", "Head", "The joint the bone starts at"), ("TAIL", "Tail", "The end of the bone")),
        default="HEAD",
    )


class TPCReferencePoint(bpy.types.PropertyGroup):
    """A keypoint placed by hand on the reference photo (see reference_points)."""

    # `name` (inherited) holds the keypoint name, e.g. "left_wrist" or "left_hand_04".
    location: FloatVectorProperty(name="Location", size=2, description="Where on the photo, in its pixels from the top left")
    placed: BoolProperty(name="Placed", default=True, description="On the photo (off: not visible, sent with confidence 0)")


class TPCSettings(bpy.types.PropertyGroup):
    # -- the shot ---------------------------------------------------------------------------------------
    reference_image: StringProperty(
        name="Reference Photo", subtype="FILE_PATH", update=_reference_changed, options=_RELATIVE_PATH,
        description="Photo of the person who should perform the motion (PNG, JPEG, WebP, TIFF or BMP)",
    )  # fmt: skip
    reference_thumbnail: PointerProperty(type=bpy.types.Image, options={"HIDDEN"})
    use_reference_points: BoolProperty(
        name="Keypoints by Hand", default=False,
        description=(
            "Send the keypoints placed on the photo in the Image Editor (TPC tab) instead of letting the backend "
            "find the person: for stylised or drawn characters it does not find"
        ),
    )  # fmt: skip
    reference_hands: BoolProperty(
        name="With Hands", default=False, description="Place the 21 points of each hand too (Reset lays them out)"
    )
    reference_points: CollectionProperty(type=TPCReferencePoint)
    pose_source: EnumProperty(
        name="Pose Source",
        items=(
            ("ARMATURE", "Armature", "An animated armature seen through the scene camera"),
            ("FILE", "File", "A PoseSequence, OpenPose or COCO keypoint JSON, a folder of OpenPose JSON files, or a BVH motion capture"),
        ),
        default="ARMATURE",
    )
    armature: PointerProperty(
        name="Armature", type=bpy.types.Object, poll=_is_armature,
        description="Animated armature to follow (empty: the only armature in the scene)",
    )  # fmt: skip
    pose_file: StringProperty(
        name="Pose File", subtype="FILE_PATH", options=_RELATIVE_PATH,
        description=(
            "PoseSequence, OpenPose or COCO keypoint JSON, or a folder of OpenPose JSON files (one per frame), sent as "
            "they are with all their frames (OpenPose on the scene's render size and frame rate); or a BVH, imported "
            "into an armature and seen through the camera over the scene's frame range"
        ),
    )  # fmt: skip
    keypoint_overrides: CollectionProperty(type=TPCKeypointOverride)
    use_mesh_masks: BoolProperty(
        name="Mesh Silhouettes", default=True,
        description=(
            "Send the silhouette of the meshes the armature deforms, so calibration matches the body shape "
            "(armatures only: pose files carry no silhouettes)"
        ),
    )  # fmt: skip

    # -- the backend and its engine -----------------------------------------------------------------------
    backend: StringProperty(
        name="Backend", default=DEFAULT_BACKEND,
        description="Address of the TPC Animate backend (tpc-backend serve), e.g. tcp://127.0.0.1:5555",
    )  # fmt: skip
    timeout: FloatProperty(
        name="Timeout", default=10.0, min=1.0, max=600.0, subtype="TIME_ABSOLUTE", unit="TIME_ABSOLUTE",
        description="Seconds without any word from the backend before it counts as unreachable",
    )  # fmt: skip
    engine: EnumProperty(
        name="Engine",
        items=(
            ("preview", "Preview", "Calibrated photo over the pose skeleton; no model weights, seconds on a CPU"),
            ("diffusion", "Diffusion", "Stable Diffusion with reference attention and TPC; needs the model weights"),
        ),
        default="preview",
    )
    seed: IntProperty(name="Seed", default=0, min=0, description="Same seed, same frames")
    use_trained_settings: BoolProperty(
        name="As Trained", default=True,
        description="Use the steps and guidance the backend's models were trained with (off: the values below)",
    )  # fmt: skip
    steps: IntProperty(name="Steps", default=25, min=1, max=200, description="Denoising steps (diffusion)")
    guidance: FloatProperty(name="Guidance", default=3.5, min=0.0, max=30.0, description="Classifier-free guidance scale")
    groups: IntProperty(
        name="Groups", default=30, min=1, max=10000,
        description="Iterative propagation: frames are split into this many groups sharing a calibrated image per step",
    )  # fmt: skip
    use_tpc: BoolProperty(
        name="Procrustes Calibration", default=True,
        description="Condition on the photo warped to each pose (TPC); off: the plain photo only",
    )  # fmt: skip
    use_independent_frames: BoolProperty(
        name="Independent Frames", default=False,
        description="Calibrate every frame on its own, as the paper does; off: as a sequence, so the calibrated "
        "photo moves as smoothly as the motion (less flicker)",
    )  # fmt: skip
    use_person_tokens: BoolProperty(
        name="Person Tokens Only", default=True,
        description="Diffusion: attend to the calibrated person only, not the black around them (faster, less memory); "
        "off: whole calibrated images",
    )  # fmt: skip
    output_dir: StringProperty(
        name="Output Folder", default="//tpc/", subtype="DIR_PATH", options=_RELATIVE_PATH,
        description="Frames go to a folder per job inside this one (// is the .blend file's folder)",
    )  # fmt: skip

    # -- the job, saved with the file -----------------------------------------------------------------------
    job_id: StringProperty(name="Job", description="Id of the last job started from this scene")
    job_backend: StringProperty(description="Backend the job was sent to")
    job_folder: StringProperty(subtype="DIR_PATH", options=_RELATIVE_PATH, description="Folder the job's frames are written to")
    job_total: IntProperty(description="Number of frames the job makes")
    frames_done: IntProperty(description="Frames on disk, counted from the first without a gap")
    progress: FloatProperty(min=0.0, max=1.0, subtype="FACTOR")
    status: StringProperty(description="The backend's last progress message")
    state: EnumProperty(items=JOB_STATES, default=JobState.NONE.value)
    last_error: StringProperty(description="What went wrong last, and what to do about it")
    warnings: StringProperty(
        description="What may make the last job's frames look wrong, one sentence a line (joints without a bone, "
        "frames with the performer out of view)"
    )


CLASSES = (TPCKeypointOverride, TPCReferencePoint, TPCSettings)
_register_classes, _unregister_classes = bpy.utils.register_classes_factory(CLASSES)


def overrides_by_index(settings: TPCSettings) -> dict[int, tuple[str, str]]:
    """The panel's bone choices as keypoint index -> (bone, end), leaving out the automatic ones."""
    chosen = {}
    for item in settings.keypoint_overrides:
        if item.bone and item.name in COCO17_NAMES:
            chosen[COCO17_NAMES.index(item.name)] = (item.bone, item.end)
    return chosen


def register() -> None:
    _register_classes()
    bpy.types.Scene.tpc = PointerProperty(type=TPCSettings)


def unregister() -> None:
    del bpy.types.Scene.tpc
    _unregister_classes()
