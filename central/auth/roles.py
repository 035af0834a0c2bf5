"""Staff roles and what each may do (the one table both the API and the web pages use)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Staff roles."""

    NURSE = "nurse"
    RECEPTION = "reception"
    ADMIN = "admin"
    TECHNICIAN = "technician"


class Action(StrEnum):
    """Things staff do; routes and pages name the action they need."""

    QUEUE_READ = "queue.read"
    QUEUE_OPERATE = "queue.operate"
    """Call, recall, miss, no-show, start, complete, transfer, hold, release, cancel."""
    CHECK_IN = "visit.check_in"
    PATIENT_SEARCH = "patient.search"
    """Search by ticket, name or registration number; full names."""
    JOURNEY_READ = "journey.read"
    PHONE_LINK = "patient.phone_link"
    """Make a one-time phone-page link for a patient at the desk."""
    ANALYTICS_READ = "analytics.read"
    """Waits, service times, throughput, no-shows (no names)."""
    FLEET_READ = "fleet.read"
    STATION_REVOKE = "station.revoke"
    STAFF_MANAGE = "staff.manage"
    ROOM_ADMIN = "room.admin"
    STATION_ENROL = "station.enrol"
    """Make, list and withdraw station enrolment codes."""
    MAP_CLOSURES = "map.closures"
    """Close and reopen map nodes (elevators, stairs, corridors)."""
    SETTINGS_MANAGE = "settings.manage"
    """Change service-day settings (admin only)."""


_ALL = frozenset(Action)

ALLOWED: dict[Role, frozenset[Action]] = {
    Role.NURSE: frozenset(
        {
            Action.QUEUE_READ,
            Action.QUEUE_OPERATE,
            Action.CHECK_IN,
            Action.PATIENT_SEARCH,
            Action.JOURNEY_READ,
            Action.PHONE_LINK,
            Action.ANALYTICS_READ,
        }
    ),
    Role.RECEPTION: frozenset(
        {
            Action.QUEUE_READ,
            Action.QUEUE_OPERATE,
            Action.CHECK_IN,
            Action.PATIENT_SEARCH,
            Action.JOURNEY_READ,
            Action.PHONE_LINK,
            Action.ANALYTICS_READ,
        }
    ),
    Role.TECHNICIAN: frozenset(
        {
            Action.QUEUE_READ,
            Action.FLEET_READ,
            Action.STATION_REVOKE,
            Action.STATION_ENROL,
            Action.MAP_CLOSURES,
        }
    ),
    Role.ADMIN: _ALL,
}
"""Role -> allowed actions. Technicians see queues (masked) and the fleet, not patients."""


def allows(role: str, action: Action) -> bool:
    """True when `role` may do `action` (unknown roles may do nothing)."""
    try:
        return action in ALLOWED[Role(role)]
    except ValueError:
        return False
