"""Bad command-line values end in a one-line error and exit code 2, before any work."""

import subprocess
import sys
from pathlib import Path

import pytest

from skactive import __main__ as cli
from skactive.experiments import cli as harness
from skactive.experiments.cli import parse_demo

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import run_experiments


@pytest.fixture
def no_work(monkeypatch):
    """Fail loudly if a command starts loading data or training."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the arguments were checked")

    monkeypatch.setattr(harness, "compare_strategies", forbidden)
    monkeypatch.setattr(harness, "run_experiments", forbidden)


def test_the_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in cli.COMMANDS)
    assert set(cli.COMMANDS) == {"demo", "run", "serve", "label-studio"}


def test_an_unknown_command_is_named(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["srve", "--port", "1"])
    assert info.value.code == 2
    assert "unknown command 'srve'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["demo", "run"])
def test_each_command_prints_its_own_help_under_its_own_name(command, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    assert info.value.code == 0
    assert f"usage: python -m skactive {command}" in capsys.readouterr().out


def test_the_labelling_service_starts_without_the_harness():
    # Parsing serve's arguments must not import the experiment harness.
    code = (
        "import sys\n"
        "from skactive.__main__ import main\n"
        "try:\n"
        "    main(['serve', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('skactive.experiments')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stderr[-2000:]


MAIN_CASES = {
    "query size zero": (["--query-size", "0"], "--query-size"),
    "negative query size": (["--query-size", "-3"], "--query-size"),
    "seeds zero": (["--seeds", "0"], "--seeds"),
    "initial zero": (["--initial", "0"], "--initial"),
    "candidates zero": (["--candidates", "0"], "--candidates"),
    "candidates below the batch": (["--candidates", "5", "--query-size", "10"], "--candidates"),
    "test size above one": (["--test-size", "1.5"], "--test-size"),
    "device banana": (["--device", "banana"], "--device"),
    "cuda without CUDA": (["--device", "cuda"], "--device"),
    "unknown strategy": (["--strategies", "random,nope"], "--strategies"),
    "unknown network": (["--network", "resnet"], "--network"),
    "unknown dataset": (["--dataset", "mnist"], "--dataset"),
    "budget below initial": (["--budget", "20", "--initial", "50"], "--budget"),
    "budget beyond the pool": (["--budget", "100000"], "--budget"),
    "epochs zero": (["--epochs", "0"], "--epochs"),
    "unknown stopping criterion": (["--stop", "nope"], "--stop"),
    "unknown initial strategy": (["--initial-strategy", "coreset"], "--initial-strategy"),
    "unknown pretraining": (["--pretrain", "byol"], "--pretrain"),
}


@pytest.mark.parametrize("case", sorted(MAIN_CASES))
def test_main_rejects_bad_values(case, no_work, tmp_path, capsys):
    args, flag = MAIN_CASES[case]
    if case == "cuda without CUDA":
        pytest.importorskip("torch")
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    with pytest.raises(SystemExit) as info:
        cli.main([*args, "--output-dir", str(tmp_path), "--no-progress"])
    assert info.value.code == 2
    assert flag in capsys.readouterr().err


def test_main_refuses_an_output_dir_that_is_a_file_before_training(no_work, tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("")
    with pytest.raises(SystemExit) as info:
        cli.main(["--output-dir", str(target), "--no-progress"])
    assert info.value.code == 2
    assert "--output-dir: cannot write to" in capsys.readouterr().err


RUNNER_CASES = {
    "seeds zero": (["--seeds", "0"], "--seeds"),
    "budget below initial": (["--budget", "50", "--initial", "100"], "budget"),
    "budget below initial plus batch": (["--quick", "--budget", "30"], "budget"),
    "query size zero": (["--query-size", "0"], "--query-size"),
    "unknown strategy": (["--strategies", "dfal,nope"], "--strategies"),
    "unknown dataset": (["--datasets", "mnist"], "--datasets"),
    "unknown network": (["--networks", "resnet"], "--networks"),
    "device banana": (["--device", "banana"], "--device"),
    "unknown transfer network": (["--transfer", "resnet"], "--transfer"),
    "candidates below the batch": (["--candidates", "10"], "candidates"),
    "unknown stopping criterion": (["--stop", "stabilizing,nope"], "--stop"),
    "param without a value": (["--param", "coreset.normalize"], "--param"),
    "param of an unknown strategy": (["--param", "nope.normalize=True"], "--param"),
    "param of a strategy not run": (
        ["--strategies", "random", "--param", "coreset.normalize=True"],
        "coreset",
    ),
    "unknown param": (
        ["--strategies", "coreset", "--param", "coreset.normalise=True"],
        "normalise",
    ),
    "bad param value": (["--strategies", "qbc", "--param", "qbc.measure=bogus"], "measure"),
    "bad param value of a schedule's phase": (
        ["--strategies", "schedule", "--param", "schedule.random_state=-3"],
        "random_state",
    ),
    "coreset time limit True": (
        ["--strategies", "coreset", "--param", "coreset.time_limit=True"],
        "time_limit",
    ),
    "negative robust eps": (["--robust-eps", "0.1,-0.3"], "--robust-eps"),
    "robust eps not a number": (["--robust-eps", "a"], "--robust-eps"),
    "robust every zero": (["--robust-every", "0"], "--robust-every"),
    "adversarial eps zero": (["--adversarial-eps", "0"], "adversarial_eps"),
    "unknown pretraining optimizer": (["--pretrain-optimizer", "lbfgs"], "--pretrain-optimizer"),
    "unknown pretraining method": (["--pretrain", "byol"], "--pretrain"),
    "unknown initial strategy": (["--initial-strategy", "badge"], "--initial-strategy"),
    "unknown semi-supervised method": (["--semi-supervised", "mixmatch"], "--semi-supervised"),
    "semi-supervised and adversarial": (
        ["--semi-supervised", "--adversarial-training"],
        "semi_supervised",
    ),
    "semi-supervised learning loss": (
        ["--semi-supervised", "--strategies", "learning_loss"],
        "semi_supervised",
    ),
}


@pytest.mark.parametrize("case", sorted(RUNNER_CASES))
def test_runner_rejects_bad_values(case, no_work, tmp_path, capsys):
    args, flag = RUNNER_CASES[case]
    with pytest.raises(SystemExit) as info:
        cli.main(["run", *args, "--output-dir", str(tmp_path), "--no-progress"])
    assert info.value.code == 2
    assert flag in capsys.readouterr().err


def test_pretrain_without_a_method_means_deepcluster(tmp_path):
    config, _ = run_experiments.parse(["--quick", "--pretrain", "--output-dir", str(tmp_path)])
    assert config.pretrain == "deepcluster" and config.initial_strategy == "random"
    config, _ = run_experiments.parse(
        [
            *("--quick", "--pretrain", "simclr", "--initial-strategy", "probcover"),
            *("--output-dir", str(tmp_path)),
        ]
    )
    assert config.pretrain == "simclr" and config.initial_strategy == "probcover"


def test_runner_seeds_flag_is_honoured(tmp_path):
    config, _ = run_experiments.parse(["--quick", "--seeds", "1", "--output-dir", str(tmp_path)])
    assert config.seeds == (0,)


def test_candidates_all_means_the_whole_pool(tmp_path):
    config, _ = run_experiments.parse(["--quick", "--output-dir", str(tmp_path)])
    assert config.candidates is not None  # the runner's default subset
    config, _ = run_experiments.parse(
        ["--quick", "--candidates", "all", "--output-dir", str(tmp_path)]
    )
    assert config.candidates is None
    assert config.strategy("dfal").candidates is None  # DFAL then screens the pool
    args = parse_demo(["--candidates", "all", "--output-dir", str(tmp_path)])
    assert args.candidates is None


def test_runner_refuses_an_unwritable_output_dir(no_work, tmp_path, capsys):
    target = tmp_path / "a_file"
    target.write_text("")
    with pytest.raises(SystemExit) as info:
        run_experiments.main(["--quick", "--output-dir", str(target / "sub")])
    assert info.value.code == 2
    assert "--output-dir: cannot write to" in capsys.readouterr().err


def test_runner_param_reaches_the_strategy(tmp_path):
    config, _ = run_experiments.parse(
        [
            "--quick",
            "--strategies",
            "coreset,dfal",
            "--param",
            "coreset.layer=features",
            "--param",
            "coreset.normalize=True",
            "--param",
            "dfal.overshoot=0.5",
            "--output-dir",
            str(tmp_path),
        ]
    )
    coreset = config.strategy("coreset")
    assert coreset.layer == "features" and coreset.normalize is True
    assert config.strategy("dfal").overshoot == 0.5
