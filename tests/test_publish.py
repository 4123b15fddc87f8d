"""Publishing a built folder to the Hub, twice: one commit that also deletes what an older build left.

A fake ``HfApi`` records the calls (no network); the ``CommitOperation`` objects are the real
ones from ``huggingface_hub``, so what would be sent is what the test reads.
"""

from __future__ import annotations

import json
import os
import shutil
from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from huggingface_hub import CommitOperationAdd, CommitOperationDelete
from huggingface_hub.errors import RevisionNotFoundError

from amg_bench.cli import main
from amg_bench.data.builder import BuildConfig, build_dataset
from amg_bench.data.demo import write_demo_sources
from amg_bench.data.demo_motion import Leg, PersonScript, SceneScript
from amg_bench.data.hub import publish, upload_plan
from amg_bench.data.writer import BUILD_INFO
from amg_bench.errors import BuildError

SCENE = SceneScript(
    id="walk",
    num_frames=52,
    setting="a test yard",
    atmosphere="quiet",
    people=(PersonScript("person0", (-1.0, 1.0), (Leg(51, (1.0, 1.5)),), shirt="red", trousers="grey"),),
    phases=((0, "a person walks"),),
)
OLD_SHARDS = ["data/train-00000-of-00003.parquet", "data/train-00001-of-00003.parquet", "data/test-old.parquet"]


class FakeHub:
    """The part of ``HfApi`` that ``publish`` uses, with a repo held in memory."""

    def __init__(self, files=(), exists=True, private=False, branches=("main",)):
        self.files = {branch: list(files) for branch in branches}
        self.exists, self.private = exists, private
        self.calls: list[tuple] = []
        self.commits: list[dict] = []

    def repo_exists(self, repo_id, repo_type=None):
        self.calls.append(("repo_exists", repo_id, repo_type))
        return self.exists

    def repo_info(self, repo_id, repo_type=None):
        return SimpleNamespace(private=self.private)

    def create_repo(self, repo_id, repo_type=None, private=None, exist_ok=False):
        self.calls.append(("create_repo", repo_id, repo_type, private))
        self.exists, self.private = True, bool(private)

    def update_repo_settings(self, repo_id, repo_type=None, private=None):
        self.calls.append(("update_repo_settings", repo_id, repo_type, private))
        self.private = private

    def create_branch(self, repo_id, repo_type=None, branch=None, exist_ok=False):
        self.calls.append(("create_branch", branch))
        self.files.setdefault(branch, list(self.files["main"]))

    def list_repo_files(self, repo_id, repo_type=None, revision=None):
        branch = revision or "main"
        if branch not in self.files:
            raise RevisionNotFoundError(f"no branch {branch}", response=SimpleNamespace(headers={}, request=None))
        return list(self.files[branch])

    def create_commit(self, repo_id, operations, commit_message=None, repo_type=None, revision=None):
        self.commits.append({"operations": list(operations), "revision": revision, "repo_type": repo_type})


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    sources = write_demo_sources(tmp_path_factory.mktemp("walk"), seed=2, scenes=[SCENE])
    out = tmp_path_factory.mktemp("built") / "ds"
    build_dataset(sources, out, BuildConfig(train_size=3, resolution=16), progress=False)
    return out


def copy_of(folder, tmp_path):
    target = tmp_path / "ds"
    shutil.copytree(folder, target)
    return target


def test_a_second_publish_deletes_the_old_shards_in_the_same_commit(folder):
    hub = FakeHub(files=[".gitattributes", "README.md", BUILD_INFO, *OLD_SHARDS, "data/train-00000-of-00001.parquet"])
    plan = publish(folder, "me/walks", api=hub)
    (commit,) = hub.commits
    deleted = [op.path_in_repo for op in commit["operations"] if isinstance(op, CommitOperationDelete)]
    added = {op.path_in_repo: op for op in commit["operations"] if isinstance(op, CommitOperationAdd)}
    # the old build's shards go (another shard count would match data/train-*); the new ones and
    # files outside data/ stay or are replaced
    assert deleted == sorted(OLD_SHARDS) == plan.delete
    assert sorted(added) == sorted(name for name, _ in plan.files)
    assert sorted(added) == [
        "README.md",
        BUILD_INFO,
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
    ]
    info = json.loads((folder / BUILD_INFO).read_text())
    for split in info["splits"].values():
        for name, digest in split["files"].items():
            assert added[name].upload_info.sha256.hex() == digest
    card = added["README.md"].path_or_fileobj.decode()
    assert 'load_dataset("me/walks")' in card and "<user>/<repo>" not in card
    assert "<user>/<repo>" in (folder / "README.md").read_text()  # the local folder is left as built
    assert commit["repo_type"] == "dataset" and not any(c[0] == "create_repo" for c in hub.calls)


def test_private_is_applied_to_a_new_repo_and_to_an_existing_public_one(folder):
    new = FakeHub(exists=False)
    publish(folder, "me/walks", private=True, api=new)
    assert ("create_repo", "me/walks", "dataset", True) in new.calls and new.private
    public = FakeHub(files=["README.md"], private=False)
    plan = publish(folder, "me/walks", private=True, api=public)
    assert ("update_repo_settings", "me/walks", "dataset", True) in public.calls and public.private
    assert plan.notes == ["made the existing repo me/walks private"]
    kept_private = FakeHub(private=True)
    plan = publish(folder, "me/walks", api=kept_private)
    assert kept_private.private and not any(c[0] == "update_repo_settings" for c in kept_private.calls)
    assert "exists and is private; left private" in plan.notes[0]


def test_a_new_branch_starts_from_main(folder):
    hub = FakeHub(files=OLD_SHARDS)
    plan = publish(folder, "me/walks", revision="v2", api=hub)
    assert ("create_branch", "v2") in hub.calls and hub.commits[0]["revision"] == "v2"
    assert plan.delete == sorted(OLD_SHARDS)


def test_dry_run_changes_nothing(folder):
    hub = FakeHub(files=OLD_SHARDS, private=False)
    plan = publish(folder, "me/walks", private=True, dry_run=True, api=hub)
    assert not hub.commits and not any(c[0] in ("create_repo", "update_repo_settings") for c in hub.calls)
    assert plan.delete == sorted(OLD_SHARDS) and plan.notes == ["would make the existing public repo me/walks private"]
    offline = publish(folder, "me/walks", dry_run=True)  # the tests run with HF_HUB_OFFLINE=1
    assert "cannot reach the Hub" in offline.notes[0] and offline.delete == []


def test_only_listed_files_with_their_recorded_bytes_are_sent(folder, tmp_path):
    ds = copy_of(folder, tmp_path)
    (ds / "notes.txt").write_text("mine")
    (ds / "data" / "train-00009-of-00010.parquet").write_bytes(b"stale")
    plan = upload_plan(ds, "me/walks")
    assert [name for name, _ in plan.files if name.startswith("data/")] == [
        "data/test-00000-of-00001.parquet",
        "data/train-00000-of-00001.parquet",
    ]
    assert plan.notes == [f"not uploaded (not listed in {BUILD_INFO}): data/train-00009-of-00010.parquet, notes.txt"]
    shard = ds / "data" / "test-00000-of-00001.parquet"
    shard.write_bytes(shard.read_bytes()[:-4] + b"XXXX")
    with pytest.raises(BuildError, match="test-00000-of-00001.parquet has sha256 .* records"):
        upload_plan(ds, "me/walks")
    shard.unlink()
    with pytest.raises(BuildError, match="misses the data shard data/test-00000-of-00001.parquet"):
        upload_plan(ds, "me/walks")


def test_symbolic_links_are_refused(folder, tmp_path):
    ds = copy_of(folder, tmp_path)
    shard = ds / "data" / "train-00000-of-00001.parquet"
    moved = tmp_path / "elsewhere.parquet"
    shutil.move(shard, moved)
    os.symlink(moved, shard)
    hub = FakeHub()
    with pytest.raises(BuildError, match=r"symbolic links \['data/train-00000-of-00001.parquet'\]"):
        publish(ds, "me/walks", api=hub)
    assert not hub.commits


def test_cli_publish_dry_run_prints_warnings(folder):
    result = CliRunner().invoke(main, ["publish", str(folder), "--repo-id", "me/walks", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("would upload 4 files") and "warning: cannot reach the Hub" in result.output
