"""Placing the reference keypoints by hand in Blender's Image Editor (sidebar, tab TPC).

*Reset Keypoints* lays a standing figure over the photo; *Edit Keypoints* shows the photo with its
points and lines drawn over it: drag a point with the left mouse button, press H over a point to take
it off the photo (or put it back), Enter, Esc or the right mouse button to finish; panning and zooming
work as usual meanwhile. The points are ``scene.tpc.reference_points`` (saved with the .blend) and are
sent as the reference keypoints while ``scene.tpc.use_reference_points`` is on. The logic (layout,
picking, dragging, the document sent) is plain Python in :mod:`.reference_points`; this module only
reads Blender's events and draws.
"""

from __future__ import annotations

import bpy
import gpu
from gpu_extras.batch import batch_for_shader

from .reference_points import (
    BODY_LINES,
    HAND_LINES,
    Point,
    PointDragger,
    default_points,
    from_uv,
    placed_body_points,
    point_names,
    to_uv,
)  # fmt: skip

_COLOURS = {"left": (0.2, 0.6, 1.0, 1.0), "right": (1.0, 0.55, 0.1, 1.0), "middle": (0.9, 0.9, 0.2, 1.0), "off": (0.5, 0.5, 0.5, 0.8)}


def photo(settings) -> bpy.types.Image | None:
    """The reference photo as Blender shows it (None when Blender cannot read it)."""
    image = settings.reference_thumbnail
    return image if image is not None and image.size[0] > 0 else None


def scene_points(settings) -> list[Point]:
    return [Point(item.name, item.location[0], item.location[1], item.placed) for item in settings.reference_points]


def store_points(settings, points: list[Point]) -> None:
    settings.reference_points.clear()
    for point in points:
        item = settings.reference_points.add()
        item.name, item.location, item.placed = point.name, (point.x, point.y), point.placed


class TPC_OT_reference_points_reset(bpy.types.Operator):
    """Lay a standing figure's keypoints over the reference photo, to drag into place"""

    bl_idname = "tpc.reference_points_reset"
    bl_label = "Reset Keypoints"
    bl_options = {"REGISTER", "UNDO"}

    def execute(self, context):
        settings = context.scene.tpc
        image = photo(settings)
        if image is None:
            self.report({"ERROR"}, "Choose a reference photo Blender can show first.")
            return {"CANCELLED"}
        store_points(settings, default_points(*image.size, hands=settings.reference_hands))
        return {"FINISHED"}


def _side(name: str) -> str:
    return "left" if name.startswith("left") else "right" if name.startswith("right") else "middle"


class TPC_OT_reference_points_edit(bpy.types.Operator):
    """Drag the keypoints over the reference photo (H: take a point off the photo or put it back; Enter or Esc: done)"""

    bl_idname = "tpc.reference_points_edit"
    bl_label = "Edit Keypoints"

    @classmethod
    def poll(cls, context):
        return context.area is not None and context.area.type == "IMAGE_EDITOR" and photo(context.scene.tpc) is not None

    def invoke(self, context, event):
        settings = context.scene.tpc
        image = photo(settings)
        context.space_data.image = image
        if {item.name for item in settings.reference_points} != set(point_names(settings.reference_hands)):
            store_points(settings, default_points(*image.size, hands=settings.reference_hands))
        # The button sits in the sidebar; the photo is drawn in the editor's main region.
        self._area = context.area
        self._region = next(region for region in context.area.regions if region.type == "WINDOW")
        self._dragger = PointDragger()
        self._handler = bpy.types.SpaceImageEditor.draw_handler_add(self._draw, (), "WINDOW", "POST_PIXEL")
        context.window_manager.modal_handler_add(self)
        self._area.header_text_set("Drag points  |  H: off the photo / back  |  Enter, Esc: done")
        return {"RUNNING_MODAL"}

    def _screen(self, settings) -> list[tuple[float, float] | None]:
        """Where each point is drawn in the editor's main region."""
        width, height = photo(settings).size
        view = self._region.view2d
        found = []
        for item in settings.reference_points:
            x, y = view.view_to_region(*to_uv(item.location[0], item.location[1], width, height), clip=False)
            found.append((float(x), float(y)))
        return found

    def modal(self, context, event):
        settings = context.scene.tpc
        self._area.tag_redraw()
        region = self._region
        mouse = (event.mouse_x - region.x, event.mouse_y - region.y)
        if event.type in {"RET", "NUMPAD_ENTER", "ESC"} and event.value == "PRESS":
            return self._finish()
        if not (0 <= mouse[0] < region.width and 0 <= mouse[1] < region.height) and self._dragger.taken is None:
            return {"PASS_THROUGH"}  # the sidebar, the header: their buttons keep working
        if event.type == "RIGHTMOUSE" and event.value == "PRESS":
            return self._finish()
        if event.type == "LEFTMOUSE" and event.value == "PRESS":
            return {"RUNNING_MODAL"} if self._dragger.press(self._screen(settings), *mouse) is not None else {"PASS_THROUGH"}
        if event.type == "LEFTMOUSE" and event.value == "RELEASE" and self._dragger.release() is not None:
            return {"RUNNING_MODAL"}
        if event.type == "MOUSEMOVE" and (moved := self._dragger.move(*mouse)) is not None:
            width, height = photo(settings).size
            item = settings.reference_points[self._dragger.taken]
            item.location = from_uv(*self._region.view2d.region_to_view(*moved), width, height)
            item.placed = True
            return {"RUNNING_MODAL"}
        if event.type == "H" and event.value == "PRESS":
            hovered = PointDragger().press(self._screen(settings), *mouse)
            if hovered is not None:
                settings.reference_points[hovered].placed = not settings.reference_points[hovered].placed
            return {"RUNNING_MODAL"}
        return {"PASS_THROUGH"}  # pan, zoom and the rest of the editor go on working

    def _finish(self):
        bpy.types.SpaceImageEditor.draw_handler_remove(self._handler, "WINDOW")
        self._area.header_text_set(None)
        self._area.tag_redraw()
        return {"FINISHED"}

    def _draw(self) -> None:
        settings = bpy.context.scene.tpc
        if photo(settings) is None:
            return
        items = list(settings.reference_points)
        screen = self._screen(settings)
        index = {item.name: number for number, item in enumerate(items)}
        shader = gpu.shader.from_builtin("UNIFORM_COLOR")
        lines = [(a, b) for a, b in BODY_LINES]
        for side in ("left", "right"):
            first = index.get(f"{side}_hand_00")
            if first is not None:
                lines += [(first + a, first + b) for a, b in HAND_LINES]
        gpu.state.blend_set("ALPHA")
        for side in _COLOURS:
            segments = [
                coordinate for a, b in lines
                if a < len(items) and b < len(items) and items[a].placed and items[b].placed and _side(items[b].name) == side
                for coordinate in (screen[a], screen[b])
            ]  # fmt: skip
            points = [
                screen[n]
                for n, item in enumerate(items)
                if (item.placed and _side(item.name) == side) or (side == "off" and not item.placed)
            ]
            shader.uniform_float("color", _COLOURS[side])
            if segments:
                gpu.state.line_width_set(2.0)
                batch_for_shader(shader, "LINES", {"pos": segments}).draw(shader)
            if points:
                gpu.state.point_size_set(8.0 if side != "off" else 5.0)
                batch_for_shader(shader, "POINTS", {"pos": points}).draw(shader)
        gpu.state.blend_set("NONE")


def draw_reference_panel(layout: bpy.types.UILayout, context: bpy.types.Context) -> None:
    settings = context.scene.tpc
    layout.prop(settings, "use_reference_points")
    column = layout.column()
    column.enabled = settings.use_reference_points
    if photo(settings) is None:
        column.label(text="Choose a reference photo first", icon="INFO")
        return
    column.prop(settings, "reference_hands")
    row = column.row(align=True)
    row.operator("tpc.reference_points_edit", icon="GREASEPENCIL")
    row.operator("tpc.reference_points_reset", icon="LOOP_BACK")
    placed = placed_body_points(scene_points(settings))
    column.label(text=f"{placed} of 17 body points on the photo")


class IMAGE_PT_tpc_reference(bpy.types.Panel):
    bl_idname = "IMAGE_PT_tpc_reference"
    bl_label = "TPC Reference Keypoints"
    bl_space_type = "IMAGE_EDITOR"
    bl_region_type = "UI"
    bl_category = "TPC"

    def draw(self, context):
        draw_reference_panel(self.layout, context)


CLASSES = (TPC_OT_reference_points_reset, TPC_OT_reference_points_edit, IMAGE_PT_tpc_reference)
register, unregister = bpy.utils.register_classes_factory(CLASSES)
