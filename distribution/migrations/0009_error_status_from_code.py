from django.db import migrations


class Migration(migrations.Migration):
    """A failed job's HTTP status is its error code's (errors.ERRORS), not a stored column."""

    dependencies = [("distribution", "0008_publishjob")]

    operations = [migrations.RemoveField(model_name="publishjob", name="error_status")]
