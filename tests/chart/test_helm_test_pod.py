"""`helm test` runs `inventory-sync check` with the scheduled runs' pod spec."""

from __future__ import annotations

import pytest

from .conftest import CASES, Rendered


@pytest.mark.parametrize("case", CASES)
def test_the_test_pod_checks_with_the_cronjob_pod_spec(
    rendered: dict[str, Rendered], case: str
) -> None:
    r = rendered[case]
    (pod,) = [d for d in r.all("Pod") if d["metadata"]["annotations"].get("helm.sh/hook") == "test"]
    assert pod["metadata"]["name"].endswith("-check")
    assert len(pod["metadata"]["name"]) <= 63
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["check"]
    scheduled = dict(r.pod_spec)
    scheduled["containers"] = [{k: v for k, v in r.container.items() if k != "args"}]
    tested = dict(pod["spec"])
    tested["containers"] = [{k: v for k, v in container.items() if k != "args"}]
    assert tested == scheduled
