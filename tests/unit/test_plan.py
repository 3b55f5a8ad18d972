from inventory_sync.model import Position
from inventory_sync.plan import Create, ExistingEntry, Update, check_positions, diff


def entry(sku: str, quantity: int, version: int = 3) -> ExistingEntry:
    return ExistingEntry(id=f"id-{sku}", version=version, sku=sku, quantity=quantity)


def test_create_update_unchanged() -> None:
    wanted = {"new": 5, "same": 7, "changed": 0}
    existing = {"same": entry("same", 7), "changed": entry("changed", 4)}
    plan = diff(wanted, existing)
    assert plan.unchanged == 1
    assert plan.writes == [
        Create(sku="new", quantity=5),
        Update(sku="changed", entry_id="id-changed", version=3, old_quantity=4, quantity=0),
    ]


def test_invalid_positions_are_counted_and_never_wanted() -> None:
    checked = check_positions(
        [
            Position("ok", 1),
            Position(None, 3),
            Position("", 3),
            Position("   ", 3),
            Position("null-qty", None),
            Position("float-qty", 2.5),
            Position("str-qty", "7"),
            Position("bool-qty", True),
        ],
        "clamp",
    )
    assert checked.wanted == {"ok": 1}
    assert [(i.ref, i.reason) for i in checked.invalid] == [
        ("None", "empty productRef"),
        ("''", "empty productRef"),
        ("'   '", "empty productRef"),
        ("null-qty", "quantity is None"),
        ("float-qty", "quantity is 2.5"),
        ("str-qty", "quantity is '7'"),
        ("bool-qty", "quantity is True"),
    ]


def test_negative_is_clamped_to_zero_by_default_and_kept_on_request() -> None:
    positions = [Position("oversold", -4), Position("fine", 2)]
    clamped = check_positions(positions, "clamp")
    assert clamped.wanted == {"oversold": 0, "fine": 2}
    assert clamped.clamped == 1
    kept = check_positions(positions, "keep")
    assert kept.wanted == {"oversold": -4, "fine": 2}
    assert kept.clamped == 0


def test_clamped_negative_against_an_old_positive_figure_is_an_update_to_zero() -> None:
    checked = check_positions([Position("oversold", -1)], "clamp")
    plan = diff(checked.wanted, {"oversold": entry("oversold", 12)})
    assert plan.writes == [Update("oversold", "id-oversold", 3, 12, 0)]


def test_same_ref_twice_last_one_wins_and_counts_once() -> None:
    checked = check_positions(
        [Position("a", 1), Position("b", 2), Position("a", 9), Position("b", -1)], "clamp"
    )
    assert checked.wanted == {"a": 9, "b": 0}
    assert checked.duplicates == 2
    assert checked.clamped == 1


def test_a_later_invalid_duplicate_drops_the_earlier_value() -> None:
    checked = check_positions([Position("a", 1), Position("a", None)], "clamp")
    assert checked.wanted == {}
    assert len(checked.invalid) == 1
