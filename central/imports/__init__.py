"""Importing today's appointments: HL7 FHIR R4 Bundles and CSV files.

Both parse the whole file into a `HospitalData` (patients with card hashes, visits with
ordered steps) and report every problem with its place (CSV line and column, FHIR entry and
field) before anything is written; `Engine.load` then applies the file in one transaction.
A file with any bad row is refused as a whole: nothing is half-applied, and the staff fix the
file and import it again (re-importing what is already there changes nothing).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from central.engine.loader import HospitalData, LoadReport

if TYPE_CHECKING:
    from central.engine import Engine


@dataclass(frozen=True, slots=True)
class ImportProblem:
    """One thing wrong with an import file, and where."""

    where: str
    """`line 4, column birth_date` (CSV) or `entry[3] Patient/p1 .birthDate` (FHIR)."""
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class ParsedImport:
    """A parsed file: the data, and where in the file each visit came from."""

    data: HospitalData
    visit_sources: list[str] = field(default_factory=list)
    """`visit_sources[i]` locates `data.visits[i]` (for errors found against the database)."""
    step_column: str = "steps"


class ImportFileError(Exception):
    """The file was refused; nothing of it was applied. `problems` says what and where."""

    def __init__(self, path: str, problems: list[ImportProblem]) -> None:
        self.path = path
        self.problems = problems
        lines = "\n  ".join(str(p) for p in problems[:50])
        more = f"\n  ... and {len(problems) - 50} more" if len(problems) > 50 else ""
        super().__init__(f"{path}: {len(problems)} problem(s), nothing imported:\n  {lines}{more}")


def parse_file(path: Path, *, default_day: date, timezone: str = "Asia/Seoul") -> ParsedImport:
    """Parse a `.csv` or a FHIR `.json` Bundle by its extension; raises ImportFileError."""
    from central.imports.csv_import import parse_csv
    from central.imports.fhir_import import parse_fhir_bundle

    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ImportFileError(str(path), [ImportProblem("file", e.strerror or str(e))]) from None
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return parse_csv(raw, default_day=default_day, source=str(path))
    if suffix == ".json":
        return parse_fhir_bundle(raw, timezone=timezone, source=str(path))
    raise ImportFileError(
        str(path), [ImportProblem("file", "expected a .csv file or a FHIR Bundle .json file")]
    )


__all__ = [
    "ImportFileError",
    "ImportProblem",
    "ParsedImport",
    "check_rooms",
    "import_file",
    "parse_file",
]


def check_rooms(parsed: ParsedImport, known_rooms: set[str], source: str) -> None:
    """Refuse the file when a visit names a room the hospital does not have."""
    problems = [
        ImportProblem(
            f"{parsed.visit_sources[i]}" if i < len(parsed.visit_sources) else f"visit {i + 1}",
            f"step {j + 1}: unknown room {step.room_id!r}",
        )
        for i, visit in enumerate(parsed.data.visits)
        for j, step in enumerate(visit.steps)
        if step.room_id not in known_rooms
    ]
    if problems:
        raise ImportFileError(source, problems)


def import_file(engine: Engine, path: Path, *, actor: str = "import") -> LoadReport:
    """Parse, check and load one file in one transaction; raises ImportFileError (nothing
    applied) or returns what was created, updated and left unchanged."""
    from central.engine import Rejected

    parsed = parse_file(path, default_day=engine.service_day(), timezone=engine.site.timezone)
    check_rooms(parsed, set(engine.room_ids()), str(path))
    try:
        report, _changes = engine.load(parsed.data, actor=actor)
    except Rejected as e:
        raise ImportFileError(str(path), [ImportProblem("file", e.message_en)]) from None
    return report
