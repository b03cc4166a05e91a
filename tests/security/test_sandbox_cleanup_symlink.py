"""Attack 3 (host permissions changed through a symlink during work-dir cleanup): the answer plants
a symlink to a host file inside a write-protected dir of its work dir, which made
TemporaryDirectory's cleanup (CVE-2023-6597, non-root lara) chmod the host file. Contained: the
work dir is a tmpfs inside the sandbox, so nothing the answer writes exists on the host, and lara's
own cleanup never follows a symlink nor changes a permission."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from lara.sandbox import BubblewrapSandbox, cleanup
from lara.testing.sandbox import as_nobody_unavailable, bwrap_unavailable, run_python

PLANT = """
import os
planted = []
for base in [os.getcwd(), "/tmp", "/lara", "/sandbox"]:
    try:
        d = os.path.join(base, "sub")
        os.makedirs(d, exist_ok=True)
        os.symlink({victim!r}, os.path.join(d, "link"))
        os.chmod(d, 0o500)
        planted.append(base)
    except OSError:
        pass
print(planted)
"""


@pytest.mark.skipif(bwrap_unavailable() is not None, reason=str(bwrap_unavailable()))
def test_planted_symlinks_never_reach_the_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = tmp_path / "victim"
    victim.write_text("host secret")
    os.chmod(victim, 0o600)
    seen: list[tuple[str, bool]] = []
    real_remove = cleanup.remove_tree

    def spy(path):  # record what the host dir holds at cleanup time, then remove it for real
        for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
            for name in dirnames + filenames:
                p = os.path.join(dirpath, name)
                seen.append((p, os.path.islink(p)))
        return real_remove(path)

    monkeypatch.setattr(cleanup, "remove_tree", spy)
    res = BubblewrapSandbox(memory_bound="rlimits").run(PLANT.format(victim=str(victim)), timeout_s=30)
    assert res.status == "ok", res.stderr
    assert "/sandbox" in res.stdout  # the attack ran: it could plant in its own (tmpfs) work dir
    assert seen and not any(is_link for _, is_link in seen)
    assert {Path(p).name for p, _ in seen} >= {"prog.py", "stdout", "stderr"}
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert not any(Path(p).exists() for p, _ in seen)


_CVE_LAYOUT = """
import json, os, stat, sys, tempfile
from lara.sandbox import cleanup
base = tempfile.mkdtemp()
victim = os.path.join(base, "victim")
open(victim, "w").write("x")
os.chmod(victim, 0o600)
tree = os.path.join(base, "lara-sbx-work")
os.makedirs(os.path.join(tree, "sub"))
os.symlink(victim, os.path.join(tree, "sub", "link"))
os.chmod(os.path.join(tree, "sub"), 0o500)  # unlink of the symlink fails for a non-root user
ok = cleanup.remove_tree(tree)
print(json.dumps({"uid": os.geteuid(), "removed_all": ok,
                  "victim_mode": stat.S_IMODE(os.stat(victim).st_mode),
                  "link_left": os.path.islink(os.path.join(tree, "sub", "link"))}))
os.chmod(os.path.join(tree, "sub"), 0o700)
cleanup.remove_tree(base)
"""


@pytest.mark.skipif(as_nobody_unavailable() is not None, reason=str(as_nobody_unavailable()))
def test_cleanup_of_the_cve_layout_as_non_root_leaves_the_target_alone() -> None:
    proc = run_python(_CVE_LAYOUT, as_nobody=True)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["uid"] != 0  # the condition of the CVE: lara not root
    assert out["victim_mode"] == 0o600  # never chmodded through the symlink
    assert out["removed_all"] is False and out["link_left"] is True  # left and logged, not forced
