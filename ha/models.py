"""Chat server applications (the members of HA pairs) and their options."""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models

from . import options


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

    class Meta:
        ordering = ["pair", "name"]
        constraints = [
            models.UniqueConstraint(fields=["host", "port"], name="one_application_per_address"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.configured_role} of {self.pair})"

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

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
