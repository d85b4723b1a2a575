from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("distribution", "0011_record_links_takedown_idempotency"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="publishjob",
            options={
                "ordering": ["-started_at"],
                "permissions": [
                    ("republish", "Can re-publish distribution records"),
                    ("publish", "Can publish through the API (session, token or API key callers)"),
                    ("unpublish", "Can unpublish distribution records (take a video down)"),
                    ("cancel", "Can cancel queued or running publish jobs"),
                ],
            },
        ),
        migrations.AddField(
            model_name="publishjob",
            name="cancel_requested_by",
            field=models.CharField(
                blank=True,
                help_text="Who asked to cancel this running job; its worker stops at its next piece.",
                max_length=150,
            ),
        ),
    ]
