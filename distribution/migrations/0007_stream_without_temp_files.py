"""The asset streams straight into the upload: no temporary folder per job, and the reaper's
cleanup flag means "the upload started" (a media document left without its record goes)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0006_hardening"),
    ]

    operations = [
        migrations.RemoveField(model_name="publishattempt", name="temp_path"),
        migrations.RenameField(model_name="publishattempt", old_name="created_media", new_name="upload_started"),
        migrations.AlterField(
            model_name="publishattempt",
            name="upload_started",
            field=models.BooleanField(
                default=False,
                help_text="Upload started: if the job fails, a media document left without its record is removed.",
            ),
        ),
    ]
