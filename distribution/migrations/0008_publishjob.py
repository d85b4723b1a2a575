from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("distribution", "0007_stream_without_temp_files")]

    operations = [migrations.RenameModel("PublishAttempt", "PublishJob")]
