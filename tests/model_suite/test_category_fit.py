"""The category fit that ranks our model's best-of-N: nearer the library's shapes of the category ranks higher."""

import numpy as np
import trimesh

from model_suite.category_fit import category_fit, category_references, surface_points, yaw_chamfer
from model_suite.library import Library


def _turned(vertices, degrees):
    t = np.radians(degrees)
    R = np.array([[np.cos(t), 0, np.sin(t)], [0, 1, 0], [-np.sin(t), 0, np.cos(t)]])
    return np.asarray(vertices) @ R.T


def test_a_shape_turned_about_the_up_axis_fits_itself_and_a_different_shape_does_not():
    box = trimesh.creation.box(extents=(1.0, 0.4, 0.2))
    ref = surface_points(box.vertices, box.faces, seed=1)
    same = yaw_chamfer(surface_points(_turned(box.vertices, 90), box.faces), ref)
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=0.5)
    other = yaw_chamfer(surface_points(sphere.vertices, sphere.faces), ref)
    assert same < 0.03 < other
    # Without the turns the quarter-turned box is as far as a different shape: the yaw search is what finds it.
    assert yaw_chamfer(surface_points(_turned(box.vertices, 90), box.faces), ref, yaws=1) > 2 * same


def test_fit_is_taken_in_the_unit_cube_and_is_none_without_references():
    box = trimesh.creation.box(extents=(1.0, 0.4, 0.2))
    ref = (surface_points(box.vertices, box.faces, seed=1),)
    # A sample decoded at another size and offset (our model's grid) fits its unit-cube self.
    assert category_fit(box.vertices * 0.6 + 0.1, box.faces, ref) > -0.03
    assert category_fit(box.vertices, box.faces, ()) is None


def test_references_are_the_librarys_shapes_of_the_category(small_library):
    library = Library(small_library)
    category = library.entries[0].category
    refs = category_references(library, category)
    assert len(refs) == sum(e.category == category for e in library.entries) >= 1
    assert category_references(library, "no-such-category") == () and category_references(library, "") == ()
    # Each library shape fits its own category best of all.
    v, f = library.mesh(library.entries[0].id)
    others = {e.category for e in library.entries if e.category and e.category != category}
    own = category_fit(v, f, refs)
    assert all(own > category_fit(v, f, category_references(library, c)) for c in others)
