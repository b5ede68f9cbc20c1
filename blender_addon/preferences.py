"""Per-user settings: the keys for talking to a backend on another machine.

A backend that listens beyond this computer only accepts CURVE-encrypted clients on its allow-list.
Keys belong to the user, not to a shot, so they live in the preferences (never in a .blend that gets
shared with a team or a render farm).
"""

import bpy
from bpy.props import StringProperty


class TPCPreferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    server_public_key: StringProperty(
        name="Backend Public Key",
        description="The backend's CURVE public key (40 characters, Z85), needed for a backend on another machine",
    )
    client_public_key: StringProperty(name="Your Public Key", description="Give this key to whoever runs the backend, for its allow-list")
    client_secret_key: StringProperty(name="Your Secret Key", subtype="PASSWORD")

    def draw(self, _context) -> None:
        layout = self.layout
        layout.label(text="Only needed for a backend on another machine (a loopback backend needs no keys).")
        layout.prop(self, "server_public_key")
        row = layout.row(align=True)
        row.prop(self, "client_public_key")
        row.operator("tpc.generate_keys", text="", icon="FILE_REFRESH")
        layout.prop(self, "client_secret_key")

    def curve_keys(self) -> tuple[str | None, tuple[str, str] | None]:
        """(server public key, client key pair) for the client, or Nones where not set."""
        pair = (self.client_public_key, self.client_secret_key) if self.client_public_key and self.client_secret_key else None
        return self.server_public_key or None, pair


class TPC_OT_generate_keys(bpy.types.Operator):
    """Make a new CURVE key pair for this computer (the backend must then allow the new public key)"""

    bl_idname = "tpc.generate_keys"
    bl_label = "Generate Key Pair"
    bl_options = {"INTERNAL"}

    def execute(self, context):
        import zmq

        public, secret = zmq.curve_keypair()
        preferences = get(context)
        preferences.client_public_key = public.decode("ascii")
        preferences.client_secret_key = secret.decode("ascii")
        self.report({"INFO"}, "New key pair made: add the public key to the backend's allow-list")
        return {"FINISHED"}


def get(context: bpy.types.Context) -> TPCPreferences:
    return context.preferences.addons[__package__].preferences


CLASSES = (TPCPreferences, TPC_OT_generate_keys)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
