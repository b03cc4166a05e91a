"""`lara run`'s scale options are checked before any call: --prefix-cache-tokens, --executor,
--ray-actors, --ray-actor-resources; each bad value is one error line and exit 2."""

from __future__ import annotations

import pytest

from lara.cli import main
from lara.commands.run import parse_resources

BASE = ["run", "--task", "synthetic", "-T", "lengths=[100]", "-T", "n_docs=1", "--runner", "lc", "--model", "mock"]


@pytest.mark.parametrize("args, message", [
    (["--prefix-cache-tokens", "lots"], "--prefix-cache-tokens"),
    (["--executor", "dask"], "unknown executor 'dask'"),
    (["--executor", "ray", "--ray-actors", "0"], "ray_actors must be >= 1"),
    (["--executor", "ray", "--ray-actor-resources", "{num_gpus: 1}"], "--ray-actor-resources: not JSON"),
    (["--executor", "ray", "--ray-actor-resources", '{"num_gpus": -1}'], "non-negative numbers"),
])
def test_bad_scale_options_fail_before_any_call(tmp_path, capsys, args, message):
    assert main([*BASE, "-o", str(tmp_path), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not list(tmp_path.iterdir())  # nothing written


def test_resources_json():
    assert parse_resources('{"num_cpus": 1, "num_gpus": 1, "A100": 0.5}') == {"num_cpus": 1.0, "num_gpus": 1.0, "A100": 0.5}
    assert parse_resources(None) == {}
