"""PyTorch code ports by changing the import: ordinary training scripts written for `torch`
(tests/python/torch_scripts) run unchanged except that every `torch` import names `kiln`.

Each script runs twice, with torch and with kiln, and both runs must reach the script's goal
(the initial weights differ: each framework draws them from its own generator), with Kiln's
result close to PyTorch's."""
import importlib.util
import os
import re
import sys
import types

import pytest

import kiln

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_scripts")


def port(source):
    """The one change a user makes: import kiln where the script imports torch."""
    source = re.sub(r"^import torch$", "import kiln as torch", source, flags=re.M)
    source = re.sub(r"^import torch\.([\w.]+) as (\w+)$", r"import kiln.\1 as \2", source,
                    flags=re.M)
    source = re.sub(r"^from torch(\.[\w.]+)? import", r"from kiln\1 import", source, flags=re.M)
    assert "torch." not in re.sub(r"torch\.(\w)", "", "".join(
        line for line in source.splitlines() if line.startswith(("import", "from"))))
    return source


def run(name, framework):
    with open(os.path.join(SCRIPTS, name + ".py")) as f:
        source = f.read()
    if framework == "kiln":
        source = port(source)
    module = types.ModuleType(f"{framework}_{name}")
    exec(compile(source, f"{name}.py ({framework})", "exec"), module.__dict__)
    return module.main()


def test_port_rewrites_only_imports():
    ported = port("import torch\nimport torch.nn as nn\nfrom torch.utils.data import DataLoader\n"
                  "x = torch.zeros(1)\n")
    assert ported == ("import kiln as torch\nimport kiln.nn as nn\n"
                      "from kiln.utils.data import DataLoader\nx = torch.zeros(1)\n")


def test_mlp_script():
    torch_loss, torch_acc = run("mlp", "torch")
    kiln_loss, kiln_acc = run("mlp", "kiln")
    assert torch_acc >= 0.97, torch_acc
    assert kiln_acc >= 0.97, (kiln_acc, kiln_loss)
    assert kiln_loss < 0.15 and torch_loss < 0.15


def test_cnn_script():
    torch_loss, torch_acc = run("cnn", "torch")
    kiln_loss, kiln_acc = run("cnn", "kiln")
    assert torch_acc >= 0.95, torch_acc
    assert kiln_acc >= 0.95, (kiln_acc, kiln_loss)


def test_custom_module_script():
    torch_loss, torch_diff = run("custom_module", "torch")
    kiln_loss, kiln_diff = run("custom_module", "kiln")
    assert torch_loss < 0.01 and kiln_loss < 0.01, (torch_loss, kiln_loss)
    assert torch_diff == 0 and kiln_diff == 0


def test_custom_function_script():
    torch_loss, torch_check = run("custom_function", "torch")
    kiln_loss, kiln_check = run("custom_function", "kiln")
    assert torch_check is True and kiln_check is True
    assert torch_loss < 0.05 and kiln_loss < 0.05, (torch_loss, kiln_loss)
