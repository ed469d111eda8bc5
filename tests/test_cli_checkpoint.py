"""`archlab profile NAME --checkpoint PATH`: a bad file is one line and exit 2; good weights are
loaded, said in the report, and keep the measurement apart from one made without them."""

import pytest
import torch

import archlab
from archlab.cli import EXIT_USAGE, main
from archlab.results import load_report

FAST = ["--input", "64x64", "--no-latency", "--convention", "archlab", "--no-progress"]


pytestmark = pytest.mark.usefixtures("one_thread")


def _one_line(capsys) -> str:
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(err) == 1, err
    assert err[0].startswith("archlab: ") and "Traceback" not in err[0]
    return err[0]


def test_a_corrupt_checkpoint_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "lite18.pth"
    bad.write_bytes(b"PK\x03\x04 truncated" * 50)
    out = ["--out", str(tmp_path / "r")]
    assert main(["profile", "lite18", "--checkpoint", str(bad), *out, *FAST]) == EXIT_USAGE
    assert "is not a checkpoint torch.load can read" in _one_line(capsys)
    assert main(["profile", "lite18", "--checkpoint", str(tmp_path / "absent.pth"), *FAST]) == EXIT_USAGE
    assert "no checkpoint file" in _one_line(capsys)


def test_a_checkpoint_of_another_model_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "dite18.pth"
    torch.save(archlab.build("dite18").state_dict(), path)
    out = ["--out", str(tmp_path / "r")]
    assert main(["profile", "lite18", "--checkpoint", str(path), *out, *FAST]) == EXIT_USAGE
    assert "does not fit lite18" in _one_line(capsys)


def test_profile_with_a_checkpoint(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path, out = tmp_path / "lite18.pth", tmp_path / "r"
    torch.save(archlab.build("lite18").state_dict(), path)
    assert main(["profile", "lite18", "--checkpoint", str(path), "--out", str(out), *FAST]) == 0
    notes = load_report(out / "report.json").notes
    assert any(n.startswith(f"weights: 1418 tensors from {path}") for n in notes)
    capsys.readouterr()
    assert main(["profile", "lite18", "--out", str(out), *FAST]) == 0  # other weights: measured again
    assert "measured 1" in capsys.readouterr().err
    assert not any(n.startswith("weights:") for n in load_report(out / "report.json").notes)
