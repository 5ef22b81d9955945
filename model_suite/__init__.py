"""Candidate generators, the shape library and mesh processing for the 3D data engine.

Importable without Django. Pose convention used throughout (stated once here):
camera coordinates are OpenCV's (x right, y down, z forward); a posed mesh is
``p_cam = scale * R @ p_obj + t``; meshes live in the object frame, normalized to
the unit cube centred at the origin (longest side 1, so coordinates in [-0.5, 0.5]).
"""

__version__ = "0.1.0"
