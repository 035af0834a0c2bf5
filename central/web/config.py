"""Settings of the dashboard and the phone page (the `[web]` section of central's config)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from protocol.base import Model


class WebConfig(Model):
    """Dashboard and phone page."""

    site_name_ko: str = Field(default="한빛병원", max_length=100, description="Hospital name.")
    site_name_en: str = Field(default="Hanbit Hospital", max_length=100, description="In English.")
    map_file: Path | None = Field(
        default=None, description="Hospital map (JSON) for the phone page's route drawing."
    )
    near_ahead: int = Field(
        default=3, ge=0, le=50, description="'Your turn is near' when this many or fewer are ahead."
    )
    near_wait_s: int = Field(
        default=300, ge=0, le=3600, description="... or when the expected wait is this short."
    )
    phone_refresh_s: float = Field(
        default=20.0,
        gt=0,
        le=300,
        description="The phone feed re-sends the patient's status at least this often "
        "(estimates move with time even when the queue does not).",
    )
