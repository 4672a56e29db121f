"""Round-trip properties (hypothesis): every data type, and whole messages."""

from __future__ import annotations

import datetime as dt
import ipaddress
import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from labkit.flows.ies import DATA_TYPES, DEFAULT_REGISTRY, VARLEN
from labkit.flows.ipfix import DecodedRecord, Decoder, Template, TemplateField, encode_messages, parse_header

# ---------------------------------------------------------------------------------------------
# Data types: round trips (hypothesis)

_NTP_LOW_S = -2_208_988_800
_NTP_HIGH_S = (1 << 32) - 2_208_988_800


def values_of(type_name: str, length: int | None = None) -> st.SearchStrategy:
    """A strategy for valid values of a data type in a field of ``length`` octets."""
    dtype = DATA_TYPES[type_name]
    bits = 8 * (length or (8 if dtype.is_variable_length else dtype.length))
    if type_name.startswith("unsigned"):
        return st.integers(0, (1 << bits) - 1)
    if type_name.startswith("signed"):
        return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)
    strategies = {
        "float32": st.floats(width=32, allow_nan=False),
        "float64": st.floats(width=32 if length == 4 else 64, allow_nan=False),
        "boolean": st.booleans(),
        "macAddress": st.binary(min_size=6, max_size=6).map(lambda b: b.hex(":")),
        "octetArray": st.binary(max_size=300),
        "string": st.text(st.characters(blacklist_categories=("Cs",)), max_size=300),
        "dateTimeSeconds": st.integers(0, (1 << 32) - 1),
        "dateTimeMilliseconds": st.integers(0, (1 << 64) - 1),
        "dateTimeMicroseconds": st.integers(_NTP_LOW_S * 10**6, _NTP_HIGH_S * 10**6 - 1),
        "dateTimeNanoseconds": st.integers(_NTP_LOW_S * 10**9, _NTP_HIGH_S * 10**9 - 1),
        "ipv4Address": st.ip_addresses(v=4),
        "ipv6Address": st.ip_addresses(v=6),
    }
    return strategies[type_name]


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[str, int | None, object]:
    type_name = draw(st.sampled_from(sorted(DATA_TYPES)))
    dtype = DATA_TYPES[type_name]
    length = None
    if not dtype.is_variable_length and len(dtype.lengths) > 1:
        length = draw(st.sampled_from(sorted(dtype.lengths)))  # reduced-size encodings too
    return type_name, length, draw(values_of(type_name, length))


@settings(max_examples=400, deadline=None)
@given(typed_values())
def test_every_type_round_trips(case: tuple[str, int | None, object]) -> None:
    type_name, length, value = case
    dtype = DATA_TYPES[type_name]
    wire = dtype.encode(value, length)
    expected_length = length or (len(wire) if dtype.is_variable_length else dtype.length)
    assert len(wire) == expected_length
    decoded = dtype.decode(wire)
    if isinstance(value, float) and math.isnan(value):
        assert math.isnan(decoded)
    else:
        assert decoded == value


@given(st.datetimes(min_value=dt.datetime(1970, 1, 1), max_value=dt.datetime(2035, 12, 31),
                    timezones=st.just(dt.timezone.utc)))
def test_datetimes_encode_as_their_epoch_count(when: dt.datetime) -> None:
    delta = when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
    micros = (delta.days * 86_400 + delta.seconds) * 10**6 + delta.microseconds
    assert DATA_TYPES["dateTimeMicroseconds"].decode(DATA_TYPES["dateTimeMicroseconds"].encode(when)) == micros
    assert DATA_TYPES["dateTimeSeconds"].decode(DATA_TYPES["dateTimeSeconds"].encode(when)) == micros // 10**6


# ---------------------------------------------------------------------------------------------
# Round trip of whole messages (hypothesis)

_ROUND_TRIP_IES = sorted((ie for ie in DEFAULT_REGISTRY), key=lambda ie: ie.name)


def _value_strategy(type_name: str, length: int) -> st.SearchStrategy:
    return values_of(type_name, None if length == VARLEN else length)


@st.composite
def templates_and_records(draw: st.DrawFn) -> tuple[list[Template], list[tuple[Template, dict]]]:
    templates = []
    for template_id in range(256, 256 + draw(st.integers(1, 3))):
        ies = draw(st.lists(st.sampled_from(_ROUND_TRIP_IES), min_size=1, max_size=12,
                            unique_by=lambda ie: ie.name))
        fields = []
        for ie in ies:
            lengths = sorted(ie.data_type.lengths) if len(ie.data_type.lengths) > 1 else [ie.length]
            fields.append(TemplateField(ie, draw(st.sampled_from(lengths))))
        scope = draw(st.integers(0, min(2, len(fields))))
        templates.append(Template(template_id, tuple(fields), scope))
    records = []
    for _ in range(draw(st.integers(0, 12))):
        tmpl = draw(st.sampled_from(templates))
        records.append((tmpl, {f.name: draw(_value_strategy(f.ie.data_type.name, f.length))
                               for f in tmpl.fields}))
    return templates, records


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(templates_and_records(), st.integers(1500, 65535), st.integers(0, (1 << 32) - 1),
       st.integers(0, (1 << 32) - 1))
def test_messages_round_trip(case, max_size: int, domain: int, sequence: int) -> None:
    templates, records = case
    msgs = encode_messages(domain, templates, records, sequence_number=sequence,
                           max_message_size=max_size, export_time=1_700_000_000)
    decoder = Decoder()
    decoded: list[DecodedRecord] = []
    for m in msgs:
        assert len(m) <= max_size and parse_header(m).observation_domain_id == domain
        decoded += decoder.feed(m, exporter="prop")
    assert decoder.sequence_gaps == [] and decoder.unknown_sets == 0
    assert len(decoded) == len(records)
    for (tmpl, want), got in zip(records, decoded):
        assert got.template_id == tmpl.template_id and got.is_options == tmpl.is_options
        assert _comparable(dict(got)) == _comparable(want)
    assert {k[2]: v for k, v in decoder.templates.items()} == {t.template_id: t for t in templates}


def _comparable(record: dict) -> dict:
    out = {}
    for name, value in record.items():
        if isinstance(value, str) and DEFAULT_REGISTRY.by_name(name).data_type.name in ("ipv4Address", "ipv6Address"):
            value = ipaddress.ip_address(value)
        elif isinstance(value, float) and value != value:  # NaN
            value = "nan"
        out[name] = value
    return out
