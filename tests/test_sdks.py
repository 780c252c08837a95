"""Every official Baidu SDK against the real server, with its own same_hq methods.

One scenario (token, add with brief and tags, the same image again, add by URL, search of a
resized copy, tag filters AND / OR, paging, update by cont_sign and by image, delete by
image and by a batch of cont_signs, a bad image, bad tags) is sent to a small driver per
SDK (tests/sdks/), which makes the calls with the SDK and prints its answers; the answers
are checked here the same way for all five. Python's SDK runs in this process; Node.js's
comes from npm, the C++, PHP and Java SDKs from their sources in ../shared/sdks, built once
by scripts/sdks.sh (which `make test` runs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.conftest import ROOT, ServerProcess, jpeg, photo_names
from tongtu.imaging import SIGNATURE, decode_for

pytestmark = [pytest.mark.slow, pytest.mark.model]

BUILD = Path(os.environ.get("SDK_BUILD", ROOT / ".venv" / "sdks"))
Call = tuple[str, str, dict[str, str]]


def _no_error(answer: dict[str, Any]) -> bool:
    """The C++ SDK adds "error_code": null to every answer: absent or null is no error."""
    return answer.get("error_code") is None


def _python(host: str, creds: dict[str, str], calls: list[Call]) -> list[dict[str, Any]]:
    from aip import AipImageSearch
    from aip.base import AipBase

    class Client(AipImageSearch):  # type: ignore[misc]
        """Baidu's endpoints are private class attributes: a subclass renames them."""

    Client._AipBase__accessTokenUrl = host + "/oauth/2.0/token"
    for op in ("Add", "Search", "Update", "Delete"):
        setattr(
            Client,
            f"_AipImageSearch__sameHq{op}Url",
            f"{host}/rest/2.0/realtime_search/same_hq/{op.lower()}",
        )
    assert AipBase._AipBase__accessTokenUrl.startswith("https://aip.baidubce.com")  # type: ignore[attr-defined]
    c = Client(creds["app_id"], creds["api_key"], creds["secret_key"])
    read = lambda p: Path(p).read_bytes()  # noqa: E731
    ops = {
        "add": lambda a, o: c.sameHqAdd(read(a), o.pop("brief"), o),
        "add_url": lambda a, o: c.sameHqAddUrl(a, o.pop("brief"), o),
        "search": lambda a, o: c.sameHqSearch(read(a), o),
        "search_url": lambda a, o: c.sameHqSearchUrl(a, o),
        "update": lambda a, o: c.sameHqUpdate(read(a), o),
        "update_sign": lambda a, o: c.sameHqUpdateContSign(a, o),
        "delete_image": lambda a, o: c.sameHqDeleteByImage(read(a), o),
        "delete_sign": lambda a, o: c.sameHqDeleteBySign(a, o),
    }
    return [ops[op](arg, dict(options)) for op, arg, options in calls]


def _command(sdk: str) -> tuple[list[str], dict[str, str]]:
    """The driver's command line and environment, or pytest.skip saying what is missing."""
    here = ROOT / "tests" / "sdks"
    if sdk == "node":
        modules = BUILD / "node" / "node_modules"
        if not (modules / "baidu-aip-sdk").is_dir() or shutil.which("node") is None:
            pytest.skip("Node.js SDK not built: run scripts/sdks.sh")
        return ["node", str(here / "driver.js")], {"NODE_PATH": str(modules)}
    if sdk == "php":
        if not (BUILD / "php" / "AipImageSearch.php").is_file() or shutil.which("php") is None:
            pytest.skip("PHP SDK not built: run scripts/sdks.sh (needs ../shared/sdks)")
        return ["php", str(here / "driver.php")], {"AIP_SDK_DIR": str(BUILD / "php")}
    if sdk == "cpp":
        if not (BUILD / "cpp-driver").is_file():
            pytest.skip("C++ SDK not built: run scripts/sdks.sh (needs ../shared/sdks)")
        return [str(BUILD / "cpp-driver")], {}
    if not (BUILD / "java" / "Driver.class").is_file():
        pytest.skip("Java SDK not built: run scripts/sdks.sh (needs ../shared/sdks)")
    classpath = f"{BUILD / 'java'}:{(BUILD / 'java-classpath.txt').read_text().strip()}"
    return ["java", "-cp", classpath], {}


def _drive(sdk: str, host: str, creds: dict[str, str], calls: list[Call]) -> list[dict[str, Any]]:
    if sdk == "python":
        return _python(host, creds, calls)
    cmd, env = _command(sdk)
    if sdk == "java":
        cmd = [*cmd, f"-Daip.host={host}", "Driver"]
    payload = json.dumps({"host": host, **creds, "calls": calls})
    out = subprocess.run(
        cmd,
        input=payload,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "AIP_HOST": host, **env},
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    answers: list[dict[str, Any]] = json.loads(out.stdout)
    return answers


@pytest.mark.parametrize("sdk", ["python", "node", "cpp", "php", "java"])
def test_sdk_runs_the_whole_same_hq_scenario(
    sdk: str, server: ServerProcess, photo_server: str, photos: Path, tmp_path: Path
) -> None:
    creds = json.loads(server.cli("apps", "create", f"sdk-{sdk}", "--json"))
    names = photo_names(1800)
    a, b, d = (photos / n for n in names[3:6])
    small = tmp_path / "a-small.jpg"
    with Image.open(a) as img:
        small.write_bytes(jpeg(img.resize((img.width // 2, img.height // 2)), 80))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is no picture " * 40)
    sign = {p: decode_for(p.read_bytes(), SIGNATURE).cont_sign for p in (a, b, d)}
    url = f"{photo_server}/photos/{d.name}"
    calls: list[Call] = [
        ("add", str(a), {"brief": "a", "tags": "1,2"}),  # 0
        ("add", str(a), {"brief": "a again"}),  # 1: 216681 with its cont_sign
        ("add", str(b), {"brief": "b", "tags": "2"}),  # 2
        ("add_url", url, {"brief": "d", "tags": "3"}),  # 3
        ("search", str(small), {}),  # 4: a resized copy
        ("search", str(a), {"tags": "1,2", "tag_logic": "0"}),  # 5: AND, both held
        ("search", str(a), {"tags": "1,3", "tag_logic": "0"}),  # 6: AND, one missing
        ("search", str(a), {"tags": "1,3", "tag_logic": "1"}),  # 7: OR
        ("search_url", url, {"pn": "0", "rn": "1"}),  # 8: paging
        ("search_url", url, {"pn": "1", "rn": "5"}),  # 9
        ("update_sign", sign[a], {"brief": "a2"}),  # 10
        ("update", str(b), {"brief": "b2", "tags": "4"}),  # 11
        ("search", str(a), {}),  # 12
        ("search", str(b), {"tags": "4"}),  # 13
        ("delete_image", str(b), {}),  # 14
        ("search", str(b), {}),  # 15
        ("delete_sign", f"{sign[a]};{sign[d]}", {}),  # 16
        ("search", str(a), {}),  # 17
        ("add", str(bad), {"brief": "bad"}),  # 18: 216201
        ("add", str(b), {"brief": "b", "tags": "70000"}),  # 19: 216100
    ]
    r = _drive(sdk, server.base, creds, calls)
    assert len(r) == len(calls)

    def briefs(answer: dict[str, Any]) -> list[str]:
        assert _no_error(answer), answer
        return [hit["brief"] for hit in answer["result"]]

    assert _no_error(r[0]) and r[0]["cont_sign"] == sign[a], r[0]
    assert r[1]["error_code"] == 216681 and r[1]["cont_sign"] == sign[a], r[1]
    assert _no_error(r[2]) and r[2]["cont_sign"] == sign[b], r[2]
    assert _no_error(r[3]) and r[3]["cont_sign"] == sign[d], r[3]
    assert briefs(r[4])[:1] == ["a"], r[4]
    assert "a" in briefs(r[5])
    assert "a" not in briefs(r[6])
    assert "a" in briefs(r[7])
    assert briefs(r[8]) == ["d"] and r[8]["result_num"] == 1, r[8]
    assert "d" not in briefs(r[9])
    assert _no_error(r[10]) and _no_error(r[11]), (r[10], r[11])
    assert briefs(r[12])[:1] == ["a2"]
    assert briefs(r[13])[:1] == ["b2"]
    assert _no_error(r[14]) and "b2" not in briefs(r[15])
    assert _no_error(r[16]) and briefs(r[17]) == []
    assert r[18]["error_code"] == 216201, r[18]
    assert r[19]["error_code"] == 216100, r[19]
