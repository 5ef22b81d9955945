import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from engine.intake.models import Image


def test_import_shapes_keeps_good_meshes_and_drops_flat_sheets(tmp_path, capsys):
    import trimesh

    src = tmp_path / "src"
    src.mkdir()
    trimesh.creation.box((1, 0.5, 0.3)).export(src / "crate.stl")
    trimesh.creation.icosphere().export(src / "ball.ply")
    flat = trimesh.creation.box((1, 1, 1e-6))
    flat.export(src / "sheet.obj")
    call_command("import_shapes", str(src), "--library", str(tmp_path / "lib"))
    out = capsys.readouterr().out
    assert "2 of 3 shapes" in out and "sheet.obj" in out


def test_import_shapes_refuses_missing_folder(tmp_path):
    with pytest.raises(CommandError, match="not a folder"):
        call_command("import_shapes", str(tmp_path / "nope"))


@pytest.mark.django_db
def test_ingest_images_folder(project, tmp_path, astronaut_png):
    (tmp_path / "a.png").write_bytes(astronaut_png)
    (tmp_path / "b.png").write_bytes(astronaut_png)
    (tmp_path / "junk.png").write_bytes(b"nope")
    call_command("ingest_images", str(tmp_path), "--project", project.name, verbosity=0)
    assert Image.objects.filter(project=project).count() == 1
    with pytest.raises(CommandError, match="No project"):
        call_command("ingest_images", str(tmp_path), "--project", "missing")
