"""Re-publish by audit_log_id: the request is rebuilt from the mirror (or PayloadCMS) and overwrites."""

import pytest

from distribution.errors import PublishError
from distribution.jobs.runner import publish, republish
from distribution.models import MirroredRecord, PublishJob
from tests.support.samples import SAMPLE_MP4, publish_request


@pytest.fixture
def published(db, cms, asset_server):
    return publish(publish_request(asset_server.url + "/sample.mp4", audit_log_id="dist_again")).distribution_record


def test_republish_overwrites_the_same_record(published, cms):
    result = republish("dist_again", source=PublishJob.Source.ADMIN)

    assert result.distribution_record["storage_location"] == published["storage_location"]
    assert result.distribution_record["metadata"] == published["metadata"]
    assert len(cms.state.media) == 1 and len(cms.state.records) == 1
    assert cms.state.files["concept-42/mvp/dist_again.mp4"] == SAMPLE_MP4
    sources = list(PublishJob.objects.order_by("started_at").values_list("source", "status"))
    assert sources == [("api", "published"), ("admin", "published")]


def test_republish_reads_the_cms_when_the_mirror_lacks_the_record(published, cms):
    MirroredRecord.objects.all().delete()
    republish("dist_again", source=PublishJob.Source.COMMAND)
    assert MirroredRecord.objects.get().audit_log_id == "dist_again"
    assert len(cms.state.records) == 1


def test_republish_of_an_unknown_id_is_record_not_found(db, cms):
    with pytest.raises(PublishError) as caught:
        republish("dist_nope", source=PublishJob.Source.COMMAND)
    assert (caught.value.code, caught.value.http_status, caught.value.audit_log_id) == (
        "record_not_found",
        404,
        "dist_nope",
    )


def test_republish_reads_the_record_from_payloadcms_not_the_mirror(published, cms):
    """An edit made in the CMS survives a re-publish; a stale mirror neither reverts it nor moves the file."""
    cms.state.records[0]["title"] = "Edited in the CMS"
    MirroredRecord.objects.filter(audit_log_id="dist_again").update(
        title="Stale mirror title", storage_path="elsewhere/old/dist_again.mp4"
    )

    result = republish("dist_again", source=PublishJob.Source.ADMIN)

    assert result.distribution_record["metadata"]["title"] == "Edited in the CMS"
    assert cms.state.records[0]["title"] == "Edited in the CMS"
    assert result.distribution_record["storage_location"] == published["storage_location"]
    assert list(cms.state.files) == ["concept-42/mvp/dist_again.mp4"]
    mirrored = MirroredRecord.objects.get(audit_log_id="dist_again")
    assert (mirrored.title, mirrored.storage_path) == ("Edited in the CMS", "concept-42/mvp/dist_again.mp4")


def test_the_storage_prefix_is_stored_and_reused_as_is(published, cms):
    """Re-publish takes the record's storage_prefix as stored, not a piece cut out of storage_path."""
    assert cms.state.records[0]["storage_prefix"] == "mvp"
    cms.state.records[0]["storage_path"] = "not/a/path/it/could/be/cut/from.mp4"

    again = republish("dist_again", source=PublishJob.Source.COMMAND).distribution_record

    assert (
        again["storage_location"] == published["storage_location"] == "payloadcms://media/concept-42/mvp/dist_again.mp4"
    )
    assert cms.state.records[0]["storage_path"] == "concept-42/mvp/dist_again.mp4"


def test_records_written_before_storage_prefix_was_stored_still_republish(published, cms):
    del cms.state.records[0]["storage_prefix"]
    result = republish("dist_again", source=PublishJob.Source.COMMAND)
    assert result.distribution_record["storage_location"] == published["storage_location"]


def test_republish_of_a_record_only_the_mirror_knows_is_record_not_found(published, cms):
    cms.state.records.clear()
    with pytest.raises(PublishError) as caught:
        republish("dist_again", source=PublishJob.Source.COMMAND)
    assert caught.value.code == "record_not_found"
