"""Study files: the shipped examples parse, and every mistake is one line naming the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from pocketbench.core.analysis.study import load_study, parse_study
from pocketbench.core.analysis.study_run import check_study, study_configs
from pocketbench.core.api.errors import UsageError
from pocketbench.core.devices.local import LocalDevice

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BASE: dict[str, Any] = {
    "models": ["tiny"],
    "framework": [{"backend": "fake-cpp", "quants": ["baseline"]}],
}


def configs_of(study: Any, registry: Any) -> list[Any]:
    return study_configs(study, check_study(study, registry), {"local": LocalDevice()})


def test_galaxy_a25_example_is_the_study_file() -> None:
    from pocketbench.core.engine.plugins import Registry

    s = load_study(EXAMPLES / "galaxy-a25-study.toml")
    assert s.models == ["llama-3.2-1b"] and s.runs == 8 and s.warmup == 1
    et, cpp = s.framework
    assert (et.backend, et.quants) == ("executorch", ["baseline", "spinquant", "qat-lora"])
    assert (cpp.backend, cpp.quants) == ("llamacpp", ["baseline", "q8_0", "q4_0"])
    assert s.name == "galaxy-a25-llama-3.2-1b"
    # Scheme labels are the backends' own: the study file names none.
    labels = [c.quant_label for c in configs_of(s, Registry.from_entry_points(third_party=False))]
    assert labels == ["Baseline", "SpinQuant", "QAT+LoRA", "Baseline", "Q8_0", "Q4_0"]


def test_quick_example_parses() -> None:
    s = load_study(EXAMPLES / "quick-study.toml")
    assert s.models == ["stories110m"] and s.workload.threads == 2


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"runz": 3}, "unknown key 'runz' at the top level; valid keys: alpha, cores, correction,"),
        ({"cores": ["fast"]}, "cores[0]: 'fast': use big, little, all or a list of core numbers"),
        ({"runs": "eight"}, "runs: expected an integer, got 'eight'"),
        ({"runs": 3.5}, "runs: expected an integer, got 3.5"),
        ({"runs": True}, "runs: expected an integer, got True"),
        ({"runs": 0}, "runs: must be at least 1, got 0"),
        ({"models": "tiny"}, "models: expected a list, got 'tiny'"),
        (
            {"workload": {"prompt_tokenz": 3}},
            "unknown key 'prompt_tokenz' in workload; valid keys: gen_tokens,",
        ),
        ({"workload": {"threads": "4"}}, "workload.threads: expected an integer, got '4'"),
        ({"workload": []}, "workload: expected a table, got []"),
        ({"framework": [{"quants": ["a"]}]}, "framework[0].backend: required key missing"),
        (
            {"framework": [{"backend": "x", "quants": "q4_0"}]},
            "framework[0].quants: expected a list, got 'q4_0'",
        ),
        (
            {"framework": [{"backend": "x", "quants": ["a"], "quant": "b"}]},
            "unknown key 'quant' in framework[0]; valid keys: backend, baseline, label, labels, options, quants",
        ),
        (
            {"framework": [{"backend": "x", "quants": ["a"], "labels": {"b": "B"}}]},
            "framework[0].labels: b not in quants (a)",
        ),
        (
            {"framework": [{"backend": "x", "quants": ["a"], "baseline": "b"}]},
            "framework[0].baseline: 'b' is not in quants (a)",
        ),
        (
            {"framework": [{"backend": "x", "quants": ["a", "a"]}]},
            "framework[0].quants: lists a scheme twice",
        ),
        ({"framework": []}, "framework: list at least one [[framework]]"),
        (
            {"workload": {"prompt_tokens": [64, 512, 64]}},
            "workload.prompt_tokens: lists 64 twice; give each depth once",
        ),
        (
            {"workload": {"prompt_tokens": [64, 0]}},
            "workload.prompt_tokens: must be at least 1, got 0; give positive prompt lengths",
        ),
        ({"workload": {"prompt_tokens": -5}}, "workload.prompt_tokens: must be at least 1, got -5"),
        ({"workload": {"prompt_tokens": []}}, "workload.prompt_tokens: list at least one"),
        (
            {"workload": {"prompt_tokens": [64, "512"]}},
            "workload.prompt_tokens: expected an integer or a list of integers, got [64, '512']",
        ),
        (
            {"correction": "bh"},
            "correction: unknown 'bh'; choose one of: holm, bonferroni, fdr_bh, none",
        ),
    ],
)
def test_mistakes_name_the_key(change: dict[str, Any], message: str) -> None:
    data = copy.deepcopy(BASE)
    data.update(change)
    with pytest.raises(UsageError) as info:
        parse_study(data, source="s.toml")
    text = str(info.value)
    assert text.startswith("s.toml: ") and message in text
    assert "\n" not in text


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        load_study(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nruns = \n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"bad.toml is not valid TOML: .*line 2"):
        load_study(bad)


def test_name_defaults_to_the_file_stem(tmp_path: Path) -> None:
    path = tmp_path / "my-study.toml"
    path.write_text(
        'models = ["tiny"]\n[[framework]]\nbackend = "x"\nquants = ["a"]\n', encoding="utf-8"
    )
    assert load_study(path).name == "my-study"


def test_unknown_backend_and_quant_are_named(fake_registry) -> None:  # type: ignore[no-untyped-def]
    study = parse_study(
        {"models": ["tiny"], "framework": [{"backend": "fake-cpp", "quants": ["q5_k"]}]}
    )
    with pytest.raises(
        UsageError,
        match=r"framework\[0\].quants: Unknown quantization 'q5_k' for backend"
        r" 'fake-cpp'. Choose one of: baseline, q4_0, q4_k_m, q8_0.",
    ):
        configs_of(study, fake_registry)
    study = parse_study({"models": ["tiny"], "framework": [{"backend": "nope", "quants": ["a"]}]})
    with pytest.raises(
        UsageError,
        match=r"framework\[0\].backend: Unknown backend 'nope'. Choose one of: fake-cpp, fake-et",
    ):
        configs_of(study, fake_registry)


def test_configurations_are_the_per_framework_cross_product(fake_registry) -> None:  # type: ignore[no-untyped-def]
    study = parse_study(
        {
            "models": ["tiny", "stories110m"],
            "devices": ["local"],
            "workload": {"threads": 2},
            "framework": [
                {"backend": "fake-et", "quants": ["baseline", "SPINQUANT"]},
                {"backend": "fake-cpp", "quants": ["q4_0"]},
            ],
        }
    )
    configs = configs_of(study, fake_registry)
    assert [(c.job.backend, c.job.quant, c.job.model) for c in configs] == [
        ("fake-et", "baseline", "tiny"),
        ("fake-et", "baseline", "stories110m"),
        ("fake-et", "spinquant", "tiny"),
        ("fake-et", "spinquant", "stories110m"),  # alias -> canonical
        ("fake-cpp", "q4_0", "tiny"),
        ("fake-cpp", "q4_0", "stories110m"),
    ]
    assert {c.job.workload.threads for c in configs} == {2}


def test_a_prompt_token_list_is_one_configuration_per_depth(fake_registry) -> None:  # type: ignore[no-untyped-def]
    study = parse_study(
        {
            "models": ["stories110m"],
            "workload": {"prompt_tokens": [64, 256, 1024], "threads": 2},
            "framework": [{"backend": "fake-cpp", "quants": ["q4_0"]}],
        }
    )
    configs = configs_of(study, fake_registry)
    assert [c.job.workload.prompt_tokens for c in configs] == [64, 256, 1024]
    assert len({c.job.config_key() for c in configs}) == 3


def test_a_depth_beyond_the_context_is_refused_before_anything_runs(fake_registry) -> None:  # type: ignore[no-untyped-def]
    study = parse_study(
        {
            "models": ["stories110m"],
            "workload": {"prompt_tokens": [64, 2048]},
            "framework": [{"backend": "fake-cpp", "quants": ["q4_0"]}],
        }
    )
    with pytest.raises(UsageError) as info:
        check_study(study, fake_registry)
    assert str(info.value) == (
        "framework[0].prompt_tokens: 2048 tokens is beyond stories110m's context length"
        " (1024 tokens); choose depths up to 1024"
    )


def test_duplicate_depths_exit_2_with_one_line(tmp_path: Path) -> None:
    from pocketbench.core.testing.cli import run_bench

    path = tmp_path / "s.toml"
    path.write_text(
        'models = ["tiny"]\n[workload]\nprompt_tokens = [64, 64]\n'
        '[[framework]]\nbackend = "llamacpp"\nquants = ["q4_0"]\n',
        encoding="utf-8",
    )
    done = run_bench("study", str(path), cwd=tmp_path)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "workload.prompt_tokens: lists 64 twice" in lines[0]
