import ha.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('ha', '0001_initial'),
    ]

    operations = [
        migrations.AddField(
            model_name='application',
            name='public_url',
            field=models.CharField(blank=True, help_text='The address clients use for this member when it is not http://host:port, e.g. https://chat-a.example.com behind a TLS proxy: the topology, not-primary hints and switchover notices give it, with wss:// for the websockets. Blank: http://host:port.', max_length=255, validators=[ha.models.validate_public_url]),
        ),
    ]
