"""Every notebook runs top to bottom (tiny settings) and plots."""

import os
import re

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "notebooks")


def run_tiny(name, tmp_path, monkeypatch):
  """Executes notebooks/NAME with ICL_NOTEBOOK_TINY=1 in tmp_path; returns
  its outputs after checking none is an error."""
  monkeypatch.setenv("ICL_NOTEBOOK_TINY", "1")
  nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
  NotebookClient(nb, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  outputs = [o for cell in nb.cells if cell.cell_type == "code"
             for o in cell.get("outputs", [])]
  assert not [o for o in outputs if o.output_type == "error"]
  return outputs


def test_quickstart_runs_and_plots(tmp_path, monkeypatch):
  outputs = run_tiny("quickstart.ipynb", tmp_path, monkeypatch)
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  assert len(images) == 2  # one run's curves, then the ensemble's
  text = "".join(o.get("text", "") for o in outputs)
  assert "| pretrain |" in text and "| true |" in text
  assert os.path.exists(tmp_path / "runs" / "quickstart_tiny" / "results.json")
  for k in range(3):
    assert os.path.exists(tmp_path / "runs" / "quickstart_tiny_ensemble" /
                          f"member_{k}" / "results.json")


def test_length_generalization_runs_and_plots(tmp_path, monkeypatch):
  outputs = run_tiny("length_generalization.ipynb", tmp_path, monkeypatch)
  assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 1
  text = "".join(o.get("text", "") for o in outputs)
  for encoding in ("learned", "alibi"):
    assert re.search(rf"{encoding} +n=14 (right|wrong): BOS", text)
    assert os.path.exists(tmp_path / "runs" / "length_generalization_tiny" /
                          encoding / "results.json")


def test_arithmetic_runs_decodes_and_plots(tmp_path, monkeypatch):
  outputs = run_tiny("arithmetic.ipynb", tmp_path, monkeypatch)
  assert len([o for o in outputs if "image/png" in o.get("data", {})]) == 1
  text = "".join(o.get("text", "") for o in outputs)
  assert len(re.findall(r"\[BOS\]\d+\+\d+=", text)) == 6
  assert "| carries | exact match | problems |" in text
  assert os.path.exists(tmp_path / "runs" / "arithmetic_tiny" / "results.json")
  assert os.path.isdir(tmp_path / "datasets" / "arithmetic_problems")


def test_probing_renders_detects_patches_and_probes(tmp_path, monkeypatch):
  outputs = run_tiny("probing.ipynb", tmp_path, monkeypatch)
  images = [o for o in outputs if "image/png" in o.get("data", {})]
  assert len(images) == 3  # attention maps, patching heat map, probe curve
  views = [o["data"]["text/html"] for o in outputs
           if "text/html" in o.get("data", {})]
  assert len(views) == 1 and "<canvas" in views[0] and "http" not in views[0]
  text = "".join(o.get("text", "") for o in outputs)
  assert "induction (repeated random tokens)" in text
  assert re.search(r"logit difference: clean -?\d+\.\d+, corrupted", text)
  assert len(re.findall(r"layer \d: test R\^2 linear -?\d\.\d+ \(control "
                        r"-?\d\.\d+\), MLP", text)) == 3


def test_notebooks_are_committed_with_their_plots_and_one_setup_cell():
  setups = set()
  for name in sorted(os.listdir(NOTEBOOKS)):
    if not name.endswith(".ipynb"):
      continue
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    outputs = [o for c in code for o in c.get("outputs", [])]
    # GitHub shows the committed outputs: a CPU run's, with its plots.
    assert any("image/png" in o.get("data", {}) for o in outputs), name
    assert not [o for o in outputs if o.output_type == "error"], name
    setups.add(code[0].source)
  # The same Colab-or-checkout cell everywhere, with its URL marked.
  (setup,) = setups
  assert "ICL_URL = " in setup and "EDIT in Colab" in setup
