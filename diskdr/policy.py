"""The policy file: which VMs to protect, when, how long to keep points, where to copy them.

A policy file is YAML or JSON (``docs/policy.md`` is the reference). It is read into frozen
pydantic models whose attributes are snake_case and whose file keys are camelCase. Every
problem found is reported at once, each as ``file:line: field.path: what was expected``
(:class:`diskdr.errors.PolicyIssue`), so a user fixes a file in one pass.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import json
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal, NoReturn
from zoneinfo import available_timezones

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.scalarbool import ScalarBoolean

from diskdr.errors import PolicyError, PolicyIssue, ScheduleError
from diskdr.retention import RetentionRules
from diskdr.schedule import Cron, first_close_pair, zone_of

#: Policy names end up in durable instance ids (``cycle-{policy}-{slot}``), in the
#: ``diskdr-policy`` tag and in log queries: lower-case letters, digits and hyphens,
#: starting with a letter, not ending with a hyphen, 1 to 32 characters.
POLICY_NAME_PATTERN = re.compile(r"^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$")

#: Azure resource group names: 1-90 letters, digits, ``_ - . ( )``, not ending with ``.``.
RESOURCE_GROUP_PATTERN = re.compile(r"^[\w\-.()]{1,89}[\w\-()]$|^[\w\-()]$")

#: Azure region names as ARM spells them (``az account list-locations --query [].name``):
#: the public cloud, Azure Government and Azure operated by 21Vianet. A region missing
#: here is reported as unknown; add it to this list.
_REGION_NAMES = """
    australiacentral australiacentral2 australiaeast australiasoutheast austriaeast
    belgiumcentral brazilsouth brazilsoutheast canadacentral canadaeast centralindia
    centralus chilecentral denmarkeast eastasia eastus eastus2 francecentral francesouth
    germanynorth germanywestcentral indonesiacentral israelcentral italynorth japaneast
    japanwest jioindiacentral jioindiawest koreacentral koreasouth malaysiawest
    mexicocentral newzealandnorth northcentralus northeurope norwayeast norwaywest
    polandcentral qatarcentral southafricanorth southafricawest southcentralus southindia
    southeastasia spaincentral swedencentral swedensouth switzerlandnorth switzerlandwest
    taiwannorth taiwannorthwest uaecentral uaenorth uksouth ukwest westcentralus
    westeurope westindia westus westus2 westus3
    usgovarizona usgovtexas usgovvirginia usdodcentral usdodeast
    chinaeast chinaeast2 chinaeast3 chinanorth chinanorth2 chinanorth3
"""
AZURE_REGIONS = frozenset(_REGION_NAMES.split())

#: Azure's minimum spacing between VM restore points of one VM, per consistency mode.
RESTORE_POINT_SPACING = {"vm-crash": timedelta(hours=1), "vm-app": timedelta(hours=3)}

# The year the restore-point spacing check looks at. Fixed so validation is reproducible.
_SPACING_WINDOW = (datetime(2025, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))

_DURATION = re.compile(
    r"^P(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: object, *, allow_zero: bool = False) -> timedelta:
    """An ISO 8601 duration (``PT4H``, ``P7D``, ``P1DT12H``, ``P2W``) as a positive timedelta.

    Years and months are refused: they have no fixed length, and retention and RPO must
    mean the same span every time (write ``P30D`` or ``P365D``). ``allow_zero`` lets a
    caller with its own minimum (app settings) report a zero duration in its own words.
    """
    if isinstance(text, timedelta):
        return text
    if not isinstance(text, str):
        raise ValueError(f"expected an ISO 8601 duration such as PT4H or P7D, got {_show(text)}")
    normalized = text.strip().upper()
    match = _DURATION.match(normalized)
    # The pattern also matches "P" and a "T" with nothing after it, which ISO 8601 does not.
    if match is None or normalized == "P" or normalized.endswith("T"):
        raise ValueError(f"expected an ISO 8601 duration such as PT4H or P7D, got {text!r}")
    parts = match.groupdict()
    if parts["years"] or parts["months"]:
        raise ValueError(
            f"{text!r} counts months or years, which have no fixed length; use days or weeks "
            f"(e.g. P30D, P52W)"
        )
    duration = timedelta(
        weeks=int(parts["weeks"] or 0),
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=float(parts["seconds"] or 0),
    )
    if duration < timedelta(0) or (duration == timedelta(0) and not allow_zero):
        raise ValueError(f"expected a positive duration, got {text!r}")
    return duration


def _invalid(kind: str, message: str) -> PydanticCustomError:
    """A validation error whose text is exactly ``message`` (no template expansion)."""
    return PydanticCustomError(kind, "{reason}", {"reason": message})


def _duration_field(value: object) -> timedelta:
    try:
        return parse_duration(value)
    except ValueError as error:
        raise _invalid("duration", str(error)) from None


Duration = Annotated[timedelta, BeforeValidator(_duration_field)]


def _zone_field(value: str) -> str:
    try:
        zone_of(value)
    except ScheduleError as error:
        hint = _did_you_mean(value, _zone_names())
        raise _invalid("time_zone", f"{error}{hint}") from None
    return value


@functools.lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _did_you_mean(value: str, candidates: frozenset[str], normalized: str | None = None) -> str:
    """``"; did you mean 'x'?"`` for the closest candidate, or ``""``."""
    if normalized is not None and normalized in candidates:
        return f"; did you mean {normalized!r}?"
    close = difflib.get_close_matches(value, sorted(candidates), n=1, cutoff=0.75)
    return f"; did you mean {close[0]!r}?" if close else ""


class _Model(BaseModel):
    # strict scalars are declared per field (StrictInt, StrictStr): YAML "5" is not 5.
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
    )


class ExcludeDisks(_Model):
    """Disks of a selected VM that are not protected: by disk tag or by data-disk LUN."""

    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    luns: tuple[Annotated[StrictInt, Field(ge=0, le=63)], ...] = ()


class Target(_Model):
    """Which VMs a policy protects. All given selectors must match; an empty one matches all."""

    tags: dict[StrictStr, StrictStr] = Field(default_factory=dict)
    resource_groups: tuple[StrictStr, ...] = ()
    exclude_disks: ExcludeDisks = Field(default_factory=ExcludeDisks)

    @field_validator("resource_groups")
    @classmethod
    def _resource_group_names(cls, groups: tuple[str, ...]) -> tuple[str, ...]:
        for group in groups:
            _check_resource_group(group)
        return groups


def _check_resource_group(name: str) -> None:
    if not RESOURCE_GROUP_PATTERN.match(name):
        raise _invalid(
            "resource_group",
            f"expected a resource group name (1-90 letters, digits, _ - . ( ), "
            f"not ending with .), got {name!r}",
        )


class Schedule(_Model):
    """When points are taken: an NCRONTAB expression read in an IANA time zone."""

    cron: StrictStr
    time_zone: StrictStr = "UTC"

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, cron: str) -> str:
        try:
            Cron.parse(cron)
        except ScheduleError as error:
            raise _invalid("cron", str(error)) from None
        return cron

    @field_validator("time_zone")
    @classmethod
    def _valid_zone(cls, zone: str) -> str:
        return _zone_field(zone)


class Retention(_Model):
    """Which points are kept: restic/borg-style counts per bucket, plus ``within``.

    Each count keeps the newest point of that many distinct hours, days, ISO weeks, months
    or years; ``last`` the newest N points; ``within`` everything newer than the duration.
    ``min_keep`` newest usable points stay whatever the rules say.
    """

    last: Annotated[StrictInt, Field(ge=0)] = 0
    hourly: Annotated[StrictInt, Field(ge=0)] = 0
    daily: Annotated[StrictInt, Field(ge=0)] = 0
    weekly: Annotated[StrictInt, Field(ge=0)] = 0
    monthly: Annotated[StrictInt, Field(ge=0)] = 0
    yearly: Annotated[StrictInt, Field(ge=0)] = 0
    within: Duration | None = None
    min_keep: Annotated[StrictInt, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _keeps_something(self) -> Retention:
        counts = (self.last, self.hourly, self.daily, self.weekly, self.monthly, self.yearly)
        if not any(counts) and self.within is None:
            raise _invalid(
                "retention_empty",
                "keeps nothing: set at least one of last, hourly, daily, weekly, monthly, "
                "yearly or within",
            )
        return self

    def rules(self, time_zone: str) -> RetentionRules:
        """The retention rules of this block, buckets cut in ``time_zone``."""
        return RetentionRules(
            last=self.last,
            hourly=self.hourly,
            daily=self.daily,
            weekly=self.weekly,
            monthly=self.monthly,
            yearly=self.yearly,
            within=self.within,
            min_keep=self.min_keep,
            time_zone=time_zone,
        )


class Replicate(_Model):
    """The secondary copy: region, resource group for the replicas, and their retention."""

    region: StrictStr
    resource_group: StrictStr
    retention: Retention

    @field_validator("region")
    @classmethod
    def _known_region(cls, region: str) -> str:
        if region in AZURE_REGIONS:
            return region
        normalized = re.sub(r"[\s_\-]", "", region).lower()
        hint = _did_you_mean(region.lower(), AZURE_REGIONS, normalized)
        raise _invalid(
            "region", f"unknown Azure region {region!r} (expected a name such as westus2){hint}"
        )

    @field_validator("resource_group")
    @classmethod
    def _resource_group_name(cls, name: str) -> str:
        _check_resource_group(name)
        return name


_SUBNET_ID = re.compile(
    r"^/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Network/"
    r"virtualNetworks/[^/]+/subnets/[^/]+$",
    re.IGNORECASE,
)


class Drill(_Model):
    """A DR drill: on ``schedule``, restore ``sample`` VMs' newest replica groups into
    ``resourceGroup`` (secondary region), verify, measure the RTO, clean up."""

    schedule: Schedule
    resource_group: StrictStr
    sample: Annotated[StrictInt, Field(ge=1, le=100)] = 1
    # A script run through a managed Run Command on each drilled VM, restored as a VM
    # (its NIC in ``subnetId``, or without one in an isolated network the drill makes and
    # deletes); the content check then also needs its exit code 0.
    verify_script: StrictStr | None = None
    subnet_id: StrictStr | None = None

    @field_validator("resource_group")
    @classmethod
    def _resource_group_name(cls, name: str) -> str:
        _check_resource_group(name)
        return name

    @field_validator("subnet_id")
    @classmethod
    def _subnet_id(cls, subnet_id: str) -> str:
        if not _SUBNET_ID.match(subnet_id):
            raise _invalid(
                "subnet_id",
                "expected a subnet id /subscriptions/{id}/resourceGroups/{group}/providers/"
                f"Microsoft.Network/virtualNetworks/{{vnet}}/subnets/{{subnet}}, got {subnet_id!r}",
            )
        return subnet_id

    @field_validator("verify_script")
    @classmethod
    def _script_not_blank(cls, script: str) -> str:
        if not script.strip():
            raise _invalid("verify_script", "is empty: give a script, or leave verifyScript out")
        return script


class Policy(_Model):
    """One protection policy: target, consistency, schedules, retention, replication."""

    name: StrictStr
    target: Target
    consistency: Literal["disk", "vm-crash", "vm-app"] = "disk"
    # Not Field(min_length=1): pydantic would also call a list with one invalid item "too
    # short"; the validator below runs only once every item is valid.
    schedules: tuple[Schedule, ...]
    retention: Retention
    replicate: Replicate | None = None
    rpo: Duration | None = None
    drill: Drill | None = None
    catch_up: Literal["latest", "all"] = "latest"
    time_zone: StrictStr | None = None

    @field_validator("name")
    @classmethod
    def _usable_name(cls, name: str) -> str:
        if not POLICY_NAME_PATTERN.match(name):
            raise _invalid(
                "policy_name",
                f"expected 1-32 lower-case letters, digits or hyphens, starting with a letter "
                f"and not ending with a hyphen (it is used in instance ids and tags), got {name!r}",
            )
        return name

    @field_validator("schedules")
    @classmethod
    def _has_schedule(cls, schedules: tuple[Schedule, ...]) -> tuple[Schedule, ...]:
        if not schedules:
            raise _invalid("no_schedule", "expected at least one schedule")
        return schedules

    @field_validator("time_zone")
    @classmethod
    def _valid_zone(cls, zone: str | None) -> str | None:
        return None if zone is None else _zone_field(zone)

    @property
    def retention_time_zone(self) -> str:
        """The zone retention buckets are cut in: ``timeZone``, else the first schedule's."""
        return self.time_zone or self.schedules[0].time_zone

    def retention_rules(self) -> RetentionRules:
        """Rules for the primary points."""
        return self.retention.rules(self.retention_time_zone)

    def replica_rules(self) -> RetentionRules | None:
        """Rules for the replicas in the secondary region (None without ``replicate``)."""
        if self.replicate is None:
            return None
        return self.replicate.retention.rules(self.retention_time_zone)


class PolicySet(_Model):
    """A whole policy file."""

    version: Literal[1] = 1
    policies: tuple[Policy, ...] = Field(min_length=1)

    def get(self, name: str) -> Policy:
        """The policy called ``name``; KeyError if there is none."""
        for policy in self.policies:
            if policy.name == name:
                return policy
        raise KeyError(name)


# --------------------------------------------------------------------------------------
# Reading a file


def load_policy_file(path: str | Path) -> PolicySet:
    """Read and validate a policy file; raise ``PolicyError`` with every issue found."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        raise PolicyError([PolicyIssue(str(path), None, "", f"cannot read: {reason}")]) from None
    except UnicodeDecodeError as error:
        raise PolicyError(
            [PolicyIssue(str(path), None, "", f"not UTF-8 text ({error.reason})")]
        ) from None
    return parse_policy_text(text, str(path))


def parse_policy_text(text: str, filename: str) -> PolicySet:
    """Parse policy text (YAML or JSON: by extension, else by content) and validate it."""
    reader = _Reader(filename)
    document = reader.load(text)
    return reader.validate(document)


#: Where a value sits in the file: ``("policies", 0, "schedules", 1, "cron")``.
FieldPath = tuple[str | int, ...]


class _Reader:
    """Reads one file: keeps the line of every key and item, and the issues found."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.lines: dict[FieldPath, int] = {}
        self.issues: list[PolicyIssue] = []

    # -- syntax ------------------------------------------------------------------------

    def load(self, text: str) -> Any:
        is_json = self.filename.lower().endswith(".json") or (
            not self.filename.lower().endswith((".yaml", ".yml")) and text.lstrip()[:1] in "{["
        )
        if is_json:
            try:
                json.loads(text)
            except json.JSONDecodeError as error:
                self._fail(error.lineno, f"invalid JSON: {error.msg} (column {error.colno})")
            # JSON is YAML 1.2 apart from tabs, which JSON allows only outside strings:
            # turning them into spaces keeps every line and column.
            text = text.replace("\t", " ")
        yaml = YAML(typ="rt")
        try:
            node = yaml.load(text)
        except DuplicateKeyError as error:
            mark = error.problem_mark
            key = re.search(r'duplicate key "(.*?)"', error.problem or "")
            name = f" {key.group(1)!r}" if key else ""
            self._fail(
                mark.line + 1 if mark is not None else None,
                f"duplicate key{name} (a key may appear only once in a mapping)",
            )
        except MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark is not None else None
            problem = error.problem or error.context or "invalid YAML"
            if "block" in problem:
                problem += " (check the indentation)"
            self._fail(line, f"invalid {'JSON' if is_json else 'YAML'}: {problem}")
        except YAMLError as error:
            self._fail(None, f"invalid {'JSON' if is_json else 'YAML'}: {error}")
        return self._plain(node, ())

    def _fail(self, line: int | None, message: str) -> NoReturn:
        raise PolicyError([PolicyIssue(self.filename, line, "", message)])

    def _plain(self, node: Any, path: FieldPath) -> Any:
        """Plain Python values from ruamel's round-trip nodes, recording each line."""
        if isinstance(node, CommentedMap):
            plain: dict[Any, Any] = {}
            for key in node:
                # A key from a merge (<<:) has no line of its own: its parent's is used.
                with contextlib.suppress(KeyError, TypeError):
                    self.lines[(*path, key)] = node.lc.key(key)[0] + 1
                plain[self._scalar(key)] = self._plain(node[key], (*path, key))
            return plain
        if isinstance(node, CommentedSeq):
            items = []
            for index, item in enumerate(node):
                with contextlib.suppress(KeyError, TypeError):
                    self.lines[(*path, index)] = node.lc.item(index)[0] + 1
                items.append(self._plain(item, (*path, index)))
            return items
        return self._scalar(node)

    @staticmethod
    def _scalar(value: Any) -> Any:
        # ruamel's scalar subclasses (ScalarInt, ScalarFloat, ScalarString, ...) become
        # plain values, so models and error messages see ordinary ints and strings.
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, ScalarBoolean):  # an anchored true/false: an int subclass
            return bool(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, str):
            return str(value)
        return value

    # -- structure and rules ----------------------------------------------------------

    def validate(self, document: Any) -> PolicySet:
        policies = self._top_level(document)
        valid: list[Policy] = []
        for index, raw in enumerate(policies):
            prefix: FieldPath = ("policies", index)
            self._cross_field_checks(raw, prefix)
            try:
                policy = Policy.model_validate(raw, by_alias=True, by_name=False)
            except ValidationError as error:
                for detail in error.errors():
                    self._pydantic_issue(prefix, detail)
                continue
            valid.append(policy)
        self._check_unique_names(policies)
        if self.issues:
            raise PolicyError(sorted(self.issues, key=lambda issue: issue.line or 0))
        return PolicySet(version=1, policies=tuple(valid))

    def _top_level(self, document: Any) -> list[Any]:
        if document is None:
            self._add((), "the file is empty; expected the keys version and policies", line=1)
            return []
        if not isinstance(document, dict):
            self._add(
                (), f"expected a mapping with keys version and policies, got {_show(document)}"
            )
            return []
        for key in document:
            if key not in ("version", "policies"):
                self._unknown_key((key,), ("version", "policies"))
        version = document.get("version", 1)
        if version != 1 or isinstance(version, bool):
            self._add(("version",), f"unsupported version {_show(version)}; expected 1")
        if "policies" not in document:
            self._add(("policies",), "required key is missing (a list of policies)")
            return []
        policies = document["policies"]
        if not isinstance(policies, list):
            self._add(("policies",), f"expected a list of policies, got {_show(policies)}")
            return []
        if not policies:
            self._add(("policies",), "expected at least one policy")
        return policies

    def _cross_field_checks(self, raw: Any, prefix: FieldPath) -> None:
        """Rules that span fields, run on the policy as written: a policy with a field error
        still gets them, so one run of ``validate`` reports every problem. A rule whose
        fields are missing or invalid is skipped (those fields have their own issue)."""
        if not isinstance(raw, dict):
            return
        consistency = raw.get("consistency", "disk")
        if isinstance(consistency, str):
            self._check_spacing(consistency, _valid_schedules(raw.get("schedules")), prefix)
        if raw.get("drill") is not None and raw.get("replicate") is None:
            self._add(
                (*prefix, "drill"),
                "a drill restores replicas in the secondary region, so the policy must "
                "also have replicate",
            )

    def _check_spacing(
        self, consistency: str, schedules: list[tuple[int, Schedule]], prefix: FieldPath
    ) -> None:
        """VM restore points of one VM must be 1 h (crash) or 3 h (app) apart.
        ``schedules``: the policy's valid schedules with their index in the file."""
        minimum = RESTORE_POINT_SPACING.get(consistency)
        if minimum is None or not schedules:
            return
        zones = {schedule.time_zone for _, schedule in schedules}
        # One zone: compare wall-clock times (as in UTC), so a DST transition, which the
        # backup cycle tolerates, is not reported as a schedule mistake.
        nominal = "UTC" if len(zones) == 1 else None
        pairs = [(schedule.cron, nominal or schedule.time_zone) for _, schedule in schedules]
        close = first_close_pair(pairs, minimum, *_SPACING_WINDOW)
        if close is None:
            return
        earlier, later = close
        where: FieldPath = (*prefix, "schedules", schedules[0][0], "cron")
        if len(schedules) > 1:
            where = (*prefix, "schedules")
        zone = next(iter(zones)) if nominal else "UTC"
        self._add(
            where,
            f"{consistency} restore points of a VM must be at least "
            f"{_human(minimum)} apart (Azure's limit), but slots come {_human(later - earlier)} "
            f"apart (e.g. at {earlier:%H:%M} and {later:%H:%M} {zone})",
        )

    def _check_unique_names(self, policies: list[Any]) -> None:
        first_index: dict[str, int] = {}
        for index, raw in enumerate(policies):
            name = raw.get("name") if isinstance(raw, dict) else None
            if not isinstance(name, str):
                continue
            if name in first_index:
                first = first_index[name]
                line = self.lines.get(("policies", first, "name"))
                at = f" at line {line}" if line else ""
                self._add(
                    ("policies", index, "name"),
                    f"duplicate policy name {name!r} (already used by policies[{first}]{at})",
                )
            else:
                first_index[name] = index

    # -- issues -------------------------------------------------------------------------

    def _add(self, path: FieldPath, message: str, line: int | None = None) -> None:
        self.issues.append(
            PolicyIssue(
                self.filename,
                line if line is not None else self._line_of(path),
                _render_path(path),
                message,
            )
        )

    def _line_of(self, path: FieldPath) -> int:
        for length in range(len(path), 0, -1):
            line = self.lines.get(path[:length])
            if line is not None:
                return line
        return 1

    def _unknown_key(self, path: FieldPath, allowed: Sequence[str]) -> None:
        hint = _did_you_mean(str(path[-1]), frozenset(allowed))
        self._add(
            path,
            f"unknown key{hint}" if hint else f"unknown key; expected one of: {', '.join(allowed)}",
        )

    def _pydantic_issue(self, prefix: FieldPath, detail: Mapping[str, Any]) -> None:
        loc: FieldPath = tuple(detail["loc"])
        kind = detail["type"]
        value = detail.get("input")
        context = detail.get("ctx") or {}
        if loc and loc[-1] == "[key]":
            key_path = (*prefix, *loc[:-1])
            self._add(
                key_path[:-1],
                f"keys must be strings, got {_show(loc[-2])}",
                self._line_of(key_path),
            )
            return
        path = (*prefix, *loc)
        if kind == "extra_forbidden":
            self._unknown_key(path, _allowed_keys(Policy, loc[:-1]))
            return
        messages = {
            "missing": "required key is missing",
            "string_type": f"expected a string, got {_show(value)}",
            "int_type": f"expected an integer, got {_show(value)}",
            "greater_than_equal": f"expected an integer >= {context.get('ge')}, got {_show(value)}",
            "less_than_equal": f"expected an integer <= {context.get('le')}, got {_show(value)}",
            "literal_error": f"expected one of {context.get('expected')}, got {_show(value)}",
            "model_type": f"expected a mapping, got {_show(value)}",
            "model_attributes_type": f"expected a mapping, got {_show(value)}",
            "dict_type": f"expected a mapping, got {_show(value)}",
            "tuple_type": f"expected a list, got {_show(value)}",
            "list_type": f"expected a list, got {_show(value)}",
            "too_short": "expected a non-empty list",
        }
        self._add(path, messages.get(kind, str(detail["msg"])))


def _valid_schedules(raw: Any) -> list[tuple[int, Schedule]]:
    """The schedules of a policy as written that are valid on their own, with their index
    (an invalid one is reported by the policy's validation)."""
    if not isinstance(raw, list):
        return []
    valid = []
    for index, item in enumerate(raw):
        try:
            valid.append((index, Schedule.model_validate(item, by_alias=True, by_name=False)))
        except ValidationError:
            continue
    return valid


def _allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The camelCase keys of the model found at ``loc`` under ``model``."""
    current: type[BaseModel] = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(_snake(part))
        if field is None:
            break
        nested = _model_in(field.annotation)
        if nested is None:
            break
        current = nested
    return [field.alias or name for name, field in current.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _render_path(path: FieldPath) -> str:
    """``("policies", 0, "schedules", 1, "cron")`` → ``policies[0].schedules[1].cron``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _show(value: Any) -> str:
    """A value as a user would recognize it in the file."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _human(duration: timedelta) -> str:
    """``3h``, ``1h30m``, ``45m``: short, for messages."""
    minutes = int(duration.total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours and minutes:
        return f"{hours}h{minutes}m"
    return f"{hours}h" if hours else f"{minutes}m"
