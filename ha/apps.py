from django.apps import AppConfig


class HaConfig(AppConfig):
    name = "ha"
    verbose_name = "HA pair: applications and options"
