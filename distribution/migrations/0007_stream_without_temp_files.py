"""The asset streams straight into the upload: no temporary folder per job. The reaper cleans up
after every job that was running (created_media is gone): a media document left without its
record is deleted, whether or not the dead worker had got as far as creating it."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0006_hardening"),
    ]

    operations = [
        migrations.RemoveField(model_name="publishattempt", name="temp_path"),
        migrations.RemoveField(model_name="publishattempt", name="created_media"),
    ]
