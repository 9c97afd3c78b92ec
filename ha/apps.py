from django.apps import AppConfig


class HaConfig(AppConfig):
    name = "ha"
    verbose_name = "HA pair: applications and options"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers them)
