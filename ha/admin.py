from django.contrib import admin

from . import options
from .models import Application, Option


class OptionInline(admin.TabularInline):
    model = Option
    extra = 1
    fields = ["name", "value", "allowed", "default"]
    readonly_fields = ["allowed", "default"]

    @admin.display(description="allowed values")
    def allowed(self, obj: Option) -> str:
        return options.OPTIONS[obj.name].allowed if obj.name in options.OPTIONS else ""

    @admin.display(description="default")
    def default(self, obj: Option) -> str:
        return options.OPTIONS[obj.name].default if obj.name in options.OPTIONS else ""


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    list_display = ["name", "pair", "configured_role", "host", "port", "public_url"]
    list_filter = ["pair"]
    inlines = [OptionInline]


@admin.register(Option)
class OptionAdmin(admin.ModelAdmin):
    list_display = ["application", "section", "name", "value"]
    list_filter = ["application", "name"]
