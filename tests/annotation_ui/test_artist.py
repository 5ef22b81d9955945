"""Stage 2.5 in the browser: read the case, download the archive, a refused upload, a good one, submit."""

import zipfile

import pytest
import trimesh

from engine.alignment.models import Alignment
from engine.artists.models import ArtistCase, ArtistMesh
from engine.leases import services as leases
from engine.leases.models import Stage, TaskStatus
from tests.annotation_ui.conftest import ready_set

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def changed_pixels(png_a, png_b):
    """Return the share of pixels that differ visibly between two screenshots of one region."""
    import io

    import numpy as np
    from PIL import Image

    a, b = (np.asarray(Image.open(io.BytesIO(p)).convert("L"), dtype=np.int16) for p in (png_a, png_b))
    return float((np.abs(a - b) > 12).mean())


def artist_case(obj, meshes, category="occlusion"):
    cset = ready_set(obj, meshes, 2)
    task = leases.create(obj.image.project, Stage.ARTIST, image=obj.image, object=obj, candidate_set=cset)
    return ArtistCase.objects.create(task=task, candidate_set=cset, best_candidate=cset.candidates.first(),
                                     failure_category=category, rating=0.25)


def test_artist_downloads_uploads_and_submits(page, artist, obj, glb_meshes, tmp_path):
    case = artist_case(obj, glb_meshes)
    page.login("art")
    page.goto(f"/artist/?project={obj.image.project_id}")
    tab = page.tab
    tab.wait_for_function("window.__artist && window.__artist.ready")
    assert tab.inner_text("#reason").lower() == "reason: occlusion"
    tab.wait_for_selector("#groups button")
    assert "occlusion: 1 open" in tab.inner_text("#groups")

    with tab.expect_download() as download:
        tab.keyboard.press("b")
    archive = tmp_path / "case.zip"
    download.value.save_as(archive)
    names = set(zipfile.ZipFile(archive).namelist())
    assert {"image.png", "mask.png", "best_candidate.glb", "README.txt"} <= names, names
    assert "Failure category: Occlusion" in zipfile.ZipFile(archive).read("README.txt").decode()

    # Refusals name the file and say what is wrong with it, and what to upload instead.
    empty = tmp_path / "empty.glb"
    empty.write_bytes(b"")
    tab.set_input_files("#file", str(empty))
    tab.wait_for_function("document.querySelector('#upload-error').textContent.includes('was refused')")
    assert tab.inner_text("#upload-error") == "empty.glb was refused: The file is empty."
    bad = tmp_path / "notes.obj"
    bad.write_text("this is not a mesh\n")
    tab.set_input_files("#file", str(bad))
    tab.wait_for_function("document.querySelector('#upload-error').textContent.startsWith('notes.obj was refused')")
    refusal = tab.inner_text("#upload-error")
    assert "Unrecognised file content: upload a GLB, OBJ, PLY or STL mesh." in refusal or "could not be read" in refusal, refusal
    assert tab.is_disabled("#submit")

    # The upload view sits over the object's place in the photograph; before an upload it shows the photo only.
    photo, spot = tab.locator("#overlay-img").bounding_box(), tab.locator("#upload-canvas").bounding_box()
    assert photo["x"] <= spot["x"] + 1 and spot["x"] + spot["width"] <= photo["x"] + photo["width"] + 1
    assert spot["width"] < photo["width"], "the upload view covers the whole image instead of the object"
    clip = {k: spot[k] for k in ("x", "y", "width", "height")}
    photo_only = tab.screenshot(clip=clip)

    good = tmp_path / "torus.obj"
    mesh = trimesh.creation.torus(major_radius=0.5, minor_radius=0.15)
    good.write_bytes(mesh.export(file_type="obj").encode())
    tab.set_input_files("#file", str(good))
    tab.wait_for_function("window.__artist.uploaded")
    tab.wait_for_timeout(200)
    page.screenshot("stage2_5-upload-over-image")
    assert page.canvas_variance("#best-canvas") > 20, "the best candidate's viewport is blank"
    assert page.canvas_variance("#upload-canvas") > 20, "the uploaded mesh is not rendered"
    assert changed_pixels(photo_only, tab.screenshot(clip=clip)) > 0.05, "the uploaded mesh is not drawn over the image"
    tab.keyboard.press("Enter")
    tab.wait_for_selector("#empty:not([hidden])")

    uploaded = ArtistMesh.objects.get(case=case)
    assert uploaded.submitted and uploaded.uploaded_by == artist and uploaded.triangles == len(mesh.faces)
    case.task.refresh_from_db()
    assert case.task.status == TaskStatus.DONE
    assert Alignment.objects.filter(artist_mesh=uploaded).exists()
    page.assert_no_js_errors()


def test_artist_picks_a_failure_category_from_the_sidebar(page, artist, obj, glb_meshes):
    from engine.intake.models import ObjectInstance

    first = artist_case(obj, glb_meshes, "occlusion")
    other_obj = ObjectInstance.objects.create(image=obj.image, mask_rle=obj.mask_rle, area=obj.area, bbox=obj.bbox,
                                              category="chair")
    wanted = artist_case(other_obj, glb_meshes, "transparency")
    page.login("art")
    page.goto(f"/artist/?project={obj.image.project_id}")
    tab = page.tab
    tab.wait_for_function("window.__artist && window.__artist.ready")
    assert tab.inner_text("#reason").lower() == "reason: occlusion"
    tab.click("#groups button[data-category='transparency']")
    tab.wait_for_function("document.querySelector('#reason').textContent.toLowerCase().includes('transparency')")
    wanted.task.refresh_from_db()
    first.task.refresh_from_db()
    assert wanted.task.status == TaskStatus.LEASED and wanted.task.lease_owner == artist
    assert first.task.status == TaskStatus.OPEN  # given back, for the next artist
    tab.wait_for_timeout(300)
    page.screenshot("stage2_5-by-category")
    assert page.canvas_variance("#best-canvas") > 20, "the best candidate's viewport is blank"
    page.assert_no_js_errors()
