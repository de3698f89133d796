"""Finds the compiled extension, kiln._C.

Installed with `pip install .`, the extension sits beside this file. In a source checkout
(scripts/build.sh registers python_bindings/ with Debian's python3) it is in the CMake build
directory: $KILN_BUILD_DIR/python/kiln, by default <repository>/build/python/kiln.
"""
import importlib
import os
import sys


def load(package_name, package_path):
    # OpenMP workers that spin while waiting (libgomp's default) starve the Python thread that
    # feeds them on small machines: the MLP example on 2 cores ran at 1,100 samples/s spinning and
    # 14,000 passive. Passive unless the user chose otherwise; must be set before libgomp loads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        return importlib.import_module(package_name + "._C")
    except ImportError:
        pass
    repo = os.path.dirname(os.path.dirname(os.path.abspath(package_path[0])))
    build = os.environ.get("KILN_BUILD_DIR", os.path.join(repo, "build"))
    candidate = os.path.join(build, "python", "kiln")
    if not os.path.isdir(candidate):
        raise ImportError(
            f"kiln: the compiled extension kiln._C was not found beside {package_path[0]} "
            f"nor in {candidate}; build it with scripts/build.sh (or set KILN_BUILD_DIR)")
    package_path.append(candidate)
    sys.modules.pop(package_name + "._C", None)
    return importlib.import_module(package_name + "._C")
