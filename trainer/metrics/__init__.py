"""The published shape and layout metrics (see shape.py and layout.py for the exact definitions)."""
from .layout import add_s, box_iou_3d, layout_metrics, pose_points, rotation_error_deg
from .shape import DENSE_F1, chamfer, emd, f1_name, f1_score, shape_metrics, voxel_iou, voxelize_cube
from .surface import icp, normalize_to_cube, occupancy_mesh, sample_points

__all__ = ["DENSE_F1", "add_s", "box_iou_3d", "chamfer", "emd", "f1_name", "f1_score", "icp", "layout_metrics", "normalize_to_cube",
           "occupancy_mesh", "pose_points", "rotation_error_deg", "sample_points", "shape_metrics",
           "voxel_iou", "voxelize_cube"]
