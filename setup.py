"""Maps the product's folders to distinctive import names.

Folder names follow the product layout (`tpc/`, `protocol/`, `backend/`), but inside Blender every
add-on shares `sys.modules`, so a package called plain `protocol` or `backend` would collide with
someone else's. The import names are therefore `tpc`, `tpc_protocol` and `tpc_backend`.
"""

from setuptools import find_packages, setup

FOLDERS = {"tpc": "tpc", "tpc_protocol": "protocol", "tpc_backend": "backend"}


def _packages() -> list[str]:
    found = []
    for name, folder in FOLDERS.items():
        found.append(name)
        found += [f"{name}.{sub}" for sub in find_packages(folder)]
    return found


setup(packages=_packages(), package_dir=FOLDERS, package_data={"tpc_backend": ["examples/*/*"]})
