"""Chat server applications (the members of HA pairs) and their options."""
from __future__ import annotations

from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.db import models

from . import options

# The websocket scheme of a page's scheme: a page loaded over TLS opens wss://.
WS_SCHEMES = {"http": "ws", "https": "wss"}


def validate_public_url(value: str) -> None:
    """An origin (http or https, a host, maybe a port), nothing else: the page's
    websockets and the origin check are derived from it."""
    parsed = urlsplit(value.rstrip("/"))
    try:
        port_ok = parsed.port is None or parsed.port > 0
    except ValueError:  # not a number, or out of range
        port_ok = False
    extras = parsed.path or parsed.query or parsed.fragment or parsed.username or parsed.password
    if parsed.scheme not in WS_SCHEMES or not parsed.hostname or not port_ok or extras:
        raise ValidationError(
            f"{value!r} is not an origin such as https://chat.example.com or http://10.0.0.5:8001",
            code="invalid",
        )


class Application(models.Model):
    """One chat server instance's configuration, as the seed's Configuration Server keeps it."""

    class Role(models.TextChoices):
        PRIMARY = "primary"
        BACKUP = "backup"

    name = models.SlugField(max_length=64, unique=True)
    pair = models.SlugField(
        max_length=64, help_text="Both members of an HA pair name the same pair."
    )
    configured_role = models.CharField(max_length=8, choices=Role.choices, default=Role.PRIMARY)
    host = models.CharField(max_length=255, default="127.0.0.1")
    port = models.PositiveIntegerField()
    public_url = models.CharField(
        max_length=255, blank=True, validators=[validate_public_url],
        help_text="The address clients use for this member when it is not http://host:port, "
        "e.g. https://chat-a.example.com behind a TLS proxy: the topology, not-primary hints "
        "and switchover notices give it, with wss:// for the websockets. Blank: http://host:port.",
    )

    class Meta:
        ordering = ["pair", "name"]
        constraints = [
            models.UniqueConstraint(fields=["host", "port"], name="one_application_per_address"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.configured_role} of {self.pair})"

    @property
    def http_url(self) -> str:
        """Where a browser loads this member's pages (an origin: no path)."""
        if self.public_url:
            public = urlsplit(self.public_url)
            return f"{public.scheme}://{public.netloc}"
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Where a client opens this member's websockets: wss:// when its pages are https://."""
        scheme, rest = self.http_url.split("://", 1)
        return f"{WS_SCHEMES.get(scheme, 'ws')}://{rest}"

    def settings(self) -> options.Settings:
        """Every option of section ``settings``, parsed, defaults filled in."""
        return options.Settings(
            dict(self.options.filter(section=options.SECTION).values_list("name", "value"))
        )

    async def asettings(self) -> options.Settings:
        """See settings()."""
        stored = {
            name: value
            async for name, value in self.options.filter(section=options.SECTION).values_list(
                "name", "value"
            )
        }
        return options.Settings(stored)


class Option(models.Model):
    """One option value of an application; checked against ha.options on save."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="options")
    section = models.CharField(max_length=64, default=options.SECTION, editable=False)
    name = models.CharField(
        max_length=64, choices=[(name, name) for name in options.OPTIONS]
    )
    value = models.CharField(max_length=255)

    class Meta:
        ordering = ["application", "section", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["application", "section", "name"], name="one_value_per_option"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.section}/{self.name} = {self.value}"

    def clean(self) -> None:
        try:
            options.clean_value(self.name, self.value)
        except options.OptionError as error:
            raise ValidationError({"value": str(error)}) from None

    def save(self, *args, **kwargs) -> None:
        # Commands and code paths that skip forms still never store a bad value.
        self.clean()
        self.value = self.value.strip()
        super().save(*args, **kwargs)
