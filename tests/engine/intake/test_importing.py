"""Importing COCO instance annotations as Stage 1 proposals: real photographs, every bad input, idempotence."""

import copy
import json

import numpy as np
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from engine.intake import masks
from engine.intake.importing import ImportRefused, import_annotations
from engine.intake.models import Image, ObjectInstance, ObjectStatus
from engine.leases.models import Stage, Task, TaskStatus
from tests.engine.intake import coco_photos

pytestmark = pytest.mark.django_db
COINS = {"coin": "other"}  # the taxonomy has no coin: an explicit mapping


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("coco")
    coco, truth = coco_photos.write(folder)
    return folder, coco, truth


def iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_masks_derived_from_the_photographs_are_real_objects(photos):
    _, coco, truth = photos
    coins = [m for aid, m in truth.items() if aid < 500]
    assert len(coins) == 22  # 24 coins in the tray; the two that touch are left out
    assert all(1000 < m.sum() < 3500 for m in coins)  # a coin is 35-65 px across at this scale
    man = truth[500]
    assert 50_000 < man.sum() < 80_000 and man[200, 100] and not man[50, 450]  # his coat, not the sky
    forms = {type(a["segmentation"]).__name__ + str(type(a["segmentation"].get("counts")).__name__
             if isinstance(a["segmentation"], dict) else "") for a in coco["annotations"]}
    assert forms == {"list", "dictstr", "dictlist"}  # polygons, compressed and uncompressed RLE


def test_import_creates_proposals_with_the_file_s_masks_and_opens_stage_1(photos, project, engineer):
    folder, coco, truth = photos
    report = import_annotations(project, (folder / "instances.json").read_bytes(), user=engineer, images_dir=folder,
                                category_map=COINS)
    assert report["imported"] == 23 and report["images_ingested"] == 2 and report["error_count"] == 0
    assert report["category_mapping"] == {"coin": "other", "man": "person"}  # "man" through the synonyms
    assert report["dataset"] == "skimage-photos"
    objects = {int(o.source.split("#")[1].split()[0]): o for o in ObjectInstance.objects.all()}
    assert {o.status for o in objects.values()} == {ObjectStatus.PROPOSED}
    for aid, mask in truth.items():
        stored = masks.decode(objects[aid].mask_rle)
        polygon = isinstance(next(a for a in coco["annotations"] if a["id"] == aid)["segmentation"], list)
        # RLE is exact; a polygon traced from the mask and rasterized again is within a pixel of its outline
        assert iou(stored, mask) == 1.0 if not polygon else iou(stored, mask) > 0.98, aid
        assert objects[aid].area == int(stored.sum()) and objects[aid].bbox == masks.bbox(stored)
    assert objects[500].category == "person" and objects[500].description == "a man behind a camera on a tripod"
    assert objects[100].source == "skimage-photos#100 (coin)"
    images = Image.objects.filter(project=project)
    assert sorted(images.values_list("source_id", flat=True)) == ["camera.png", "coins.png"]
    assert Task.objects.filter(stage=Stage.SELECT, status=TaskStatus.OPEN, image__in=images).count() == 2


def test_importing_the_same_file_again_adds_nothing(photos, project):
    folder, _, _ = photos
    content = (folder / "instances.json").read_bytes()
    import_annotations(project, content, images_dir=folder, category_map=COINS)
    again = import_annotations(project, content, images_dir=folder, category_map=COINS)
    assert again["imported"] == 0 and again["already_imported"] == 23 and again["images_ingested"] == 0
    assert ObjectInstance.objects.count() == 23 and Image.objects.count() == 2
    assert Task.objects.filter(stage=Stage.SELECT).count() == 2  # no second review task either


def test_a_mask_twice_in_one_file_is_imported_once(photos, project):
    folder, coco, _ = photos
    doubled = copy.deepcopy(coco)
    doubled["annotations"].append({**doubled["annotations"][1], "id": 9999})
    report = import_annotations(project, doubled, images_dir=folder, category_map=COINS)
    assert report["imported"] == 23 and report["duplicates_in_file"] == 1


def test_unmapped_names_are_reported_and_nothing_is_imported(photos, project):
    folder, coco, _ = photos
    with pytest.raises(ImportRefused) as refused:
        import_annotations(project, coco, images_dir=folder)
    report = refused.value.report
    assert report["errors_by_code"] == {"unmapped_category": 1}
    assert "Category 'coin' (22 annotations) maps onto no category" in report["errors"][0]["message"]
    assert Image.objects.count() == 0 and ObjectInstance.objects.count() == 0
    skipped = import_annotations(project, coco, images_dir=folder, skip_unmapped=True)
    assert skipped["skipped_unmapped"] == {"coin": 22} and skipped["imported"] == 1


def test_a_mapping_onto_a_category_outside_the_taxonomy_is_refused(photos, project):
    folder, coco, _ = photos
    with pytest.raises(ImportRefused, match="names 'money'"):
        import_annotations(project, coco, images_dir=folder, category_map={"coin": "money"})


def broken(coco):
    """The photographs' file with one of each bad input."""
    bad = copy.deepcopy(coco)
    a = bad["annotations"]
    a[0]["segmentation"] = [[10, 10, 400, 10, 400, 50, 10, 50]]  # x = 400 on a 384-wide image
    a[1]["segmentation"] = {"size": [300, 384], "counts": [300 * 384]}  # an RLE of another size
    a[2]["image_id"] = 42  # an image the file does not list
    a[3]["category_id"] = 8  # a category the file does not list
    a[4]["segmentation"] = {"size": [303, 384], "counts": [303 * 384]}  # no pixel
    bad["images"].append({"id": 3, "file_name": "chelsea.png", "width": 451, "height": 300})
    a.append({"id": 900, "image_id": 3, "category_id": 3, "segmentation": [[1, 1, 20, 1, 20, 20]]})
    return bad


def test_every_bad_input_is_reported_at_once_and_nothing_is_imported(photos, project, settings):
    from pathlib import Path

    folder, coco, _ = photos
    files_before = set(Path(settings.MEDIA_ROOT).rglob("*"))
    with pytest.raises(ImportRefused) as refused:
        import_annotations(project, broken(coco), images_dir=folder, category_map=COINS)
    report = refused.value.report
    assert report["errors_by_code"] == {"out_of_image": 2, "unknown_image": 1, "unknown_category": 1,
                                        "empty_mask": 1, "unknown_image_file": 1}
    messages = " | ".join(e["message"] for e in report["errors"])
    assert "vertex at (400, 10), outside the 384x303 image" in messages
    assert "RLE mask is 384x300 but the image is 384x303" in messages
    assert "names image id 42, which is not in the file's 'images'" in messages
    assert "no image of the project is named 'chelsea.png' nor under" in messages
    assert Image.objects.count() == ObjectInstance.objects.count() == Task.objects.count() == 0
    assert set(Path(settings.MEDIA_ROOT).rglob("*")) == files_before  # no file of an image left either


def test_an_image_whose_size_differs_from_the_file_is_refused(photos, project):
    folder, coco, _ = photos
    wrong = copy.deepcopy(coco)
    wrong["images"][0]["height"] = 300
    with pytest.raises(ImportRefused, match="is 384x300 in the file but 384x303 in the project"):
        import_annotations(project, wrong, images_dir=folder, category_map=COINS)


def test_a_malformed_file_says_what_a_coco_file_is(project):
    with pytest.raises(ImportRefused, match="not JSON"):
        import_annotations(project, b"{nope")
    with pytest.raises(ImportRefused, match="has no list 'annotations'"):
        import_annotations(project, {"images": [], "categories": []})


def test_without_the_folder_images_are_matched_by_their_ingested_name(photos, project, engineer):
    from engine.intake.services import ingest

    folder, coco, _ = photos
    for name in ("coins.png", "camera.png"):
        ingest(project, (folder / name).read_bytes(), name, source_id=name)
    report = import_annotations(project, coco, category_map=COINS)
    assert report["imported"] == 23 and report["images_ingested"] == 0 and report["tasks_opened"] == 0


def test_an_image_already_through_stage_1_gets_a_new_review_task(photos, project, annotator):
    from engine.intake.services import finish_image, ingest
    from engine.leases import services as leases

    folder, coco, _ = photos
    ingest(project, (folder / "coins.png").read_bytes(), "coins.png", source_id="coins.png")
    task = leases.claim(annotator, project.pk, Stage.SELECT)
    finish_image(task.pk, annotator)
    only_coins = {**coco, "annotations": [a for a in coco["annotations"] if a["image_id"] == 1]}
    report = import_annotations(project, only_coins, category_map=COINS)
    assert report["tasks_opened"] == 1
    assert Task.objects.filter(stage=Stage.SELECT, status=TaskStatus.OPEN).count() == 1


def test_crowd_regions_are_left_out(photos, project):
    folder, coco, _ = photos
    crowd = copy.deepcopy(coco)
    crowd["annotations"][0]["iscrowd"] = 1
    report = import_annotations(project, crowd, images_dir=folder, category_map=COINS)
    assert report["skipped_crowd"] == 1 and report["imported"] == 22


def test_a_dry_run_reports_and_writes_nothing(photos, project):
    folder, coco, _ = photos
    report = import_annotations(project, coco, images_dir=folder, category_map=COINS, dry_run=True)
    assert report["imported"] == 23 and report["images_ingested"] == 2
    assert Image.objects.count() == ObjectInstance.objects.count() == 0


def test_the_command_imports_and_prints_the_report(photos, project, capsys):
    from django.core.management import CommandError, call_command

    folder, _, _ = photos
    with pytest.raises(CommandError, match="Nothing was imported"):
        call_command("import_annotations", str(folder / "instances.json"), project=project.name, images=str(folder))
    call_command("import_annotations", str(folder / "instances.json"), project=project.name, images=str(folder),
                 map=["coin=other"])
    out = capsys.readouterr().out
    report = json.loads(out[out.rindex('{\n  "dataset"'):])
    assert report["imported"] == 23
    assert ObjectInstance.objects.filter(status=ObjectStatus.PROPOSED).count() == 23


def test_the_api_imports_for_engineers_and_answers_a_refusal_with_the_report(photos, project, api, engineer, annotator):
    from engine.intake.services import ingest

    folder, coco, _ = photos
    for name in ("coins.png", "camera.png"):
        ingest(project, (folder / name).read_bytes(), name, source_id=name)
    url = f"/api/projects/{project.pk}/annotations/import/"
    assert api(annotator).post(url, {"coco": coco}, format="json").status_code == 403
    refused = api(engineer).post(url, {"coco": broken(coco), "category_map": COINS}, format="json")
    assert refused.status_code == 400 and refused.json()["code"] == "invalid"
    assert refused.json()["report"]["error_count"] == 6  # as from the command: every bad input at once
    upload = SimpleUploadedFile("instances.json", (folder / "instances.json").read_bytes(), "application/json")
    done = api(engineer).post(url, {"file": upload, "category_map": json.dumps(COINS)}, format="multipart")
    assert done.status_code == 201, done.content
    assert done.json()["imported"] == 23
    again = api(engineer).post(url, {"coco": coco, "category_map": COINS}, format="json")
    assert again.status_code == 200 and again.json()["already_imported"] == 23


@pytest.fixture
def proposals(photos, project):
    from engine.intake.services import ingest

    folder, coco, truth = photos
    ingest(project, (folder / "coins.png").read_bytes(), "coins.png", source_id="coins.png")
    only = {**coco, "annotations": [a for a in coco["annotations"] if a["image_id"] == 1][:3]}
    import_annotations(project, only, category_map=COINS)
    return list(ObjectInstance.objects.order_by("id"))


def test_stage_1_shows_the_proposals_and_the_annotator_confirms_fixes_or_rejects_each(
        proposals, project, api, annotator, django_capture_on_commit_callbacks):
    client = api(annotator)
    task = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "select"}, format="json").json()
    shown = task["payload"]["objects"]
    assert [o["status"] for o in shown] == ["proposed"] * 3 and shown[0]["source"].endswith("(coin)")
    early = client.post(f"/api/tasks/{task['id']}/submit/", {}, format="json")
    assert early.status_code == 400 and "3 imported object(s) of this image wait for review" in early.json()["detail"]
    review = f"/api/tasks/{task['id']}/objects/{{}}/review/"
    first, second, third = proposals
    assert client.post(review.format(first.pk), {"decision": "confirm"}, format="json").json()["status"] == "selected"
    # A fix: a smaller mask (the coin's left half) and another category.
    half = masks.decode(second.mask_rle)
    half[:, (second.bbox[0] + second.bbox[2]) // 2:] = False
    fixed = client.post(review.format(second.pk), {"decision": "confirm", "mask": masks.encode(half),
                                                   "category": "sphere"}, format="json")
    assert fixed.status_code == 200, fixed.content
    assert fixed.json()["edited"] and fixed.json()["category"] == "sphere" and fixed.json()["area"] == int(half.sum())
    assert client.post(review.format(third.pk), {"decision": "reject"}, format="json").json()["status"] == "rejected"
    again = client.post(review.format(third.pk), {"decision": "reject"}, format="json")
    assert again.status_code == 200  # a repeat changes nothing
    changed = client.post(review.format(third.pk), {"decision": "confirm"}, format="json")
    assert changed.status_code == 400 and "not a proposal waiting for review" in changed.json()["detail"]
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        done = client.post(f"/api/tasks/{task['id']}/submit/", {}, format="json")
    assert done.status_code == 200 and done.json()["objects"] == [first.pk, second.pk]
    assert len(callbacks) == 2  # the confirmed two go to candidate generation, the rejected one does not
    first.refresh_from_db()
    assert first.selected_by == annotator and not first.edited


def test_a_review_outside_the_held_task_s_image_is_404(proposals, project, api, annotator, image):
    client = api(annotator)
    other = Task.objects.get(stage=Stage.SELECT, image=image)
    Task.objects.filter(stage=Stage.SELECT).exclude(pk=other.pk).update(status=TaskStatus.DONE)
    task = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "select"}, format="json").json()
    assert task["id"] == other.pk
    missing = client.post(f"/api/tasks/{task['id']}/objects/{proposals[0].pk}/review/", {"decision": "confirm"},
                          format="json")
    assert missing.status_code == 404


def test_flagging_the_image_rejects_its_proposals_so_a_reimport_adds_nothing(proposals, project, api, annotator):
    client = api(annotator)
    task = client.post("/api/tasks/claim/", {"project": project.pk, "stage": "select"}, format="json").json()
    body = client.post(f"/api/tasks/{task['id']}/flag/", {"reason": "blurry"}, format="json").json()
    assert body["proposals_rejected"] == 3
    assert set(ObjectInstance.objects.values_list("status", flat=True)) == {ObjectStatus.REJECTED}


def test_import_keys_are_unique_per_image(proposals):
    from django.db import IntegrityError, transaction

    first = proposals[0]
    with pytest.raises(IntegrityError), transaction.atomic():
        ObjectInstance.objects.create(image=first.image, mask_rle=first.mask_rle, area=first.area, bbox=first.bbox,
                                      category=first.category, import_key=first.import_key)
    # Drawn objects have no key, and any number of them may look alike.
    for _ in range(2):
        ObjectInstance.objects.create(image=first.image, mask_rle=first.mask_rle, area=first.area, bbox=first.bbox,
                                      category=first.category)
    assert np.array_equal(masks.decode(first.mask_rle), masks.decode(proposals[0].mask_rle))
