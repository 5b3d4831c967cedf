"""Verilator build settings: our own make flags under a parent make, a user's own MAKEFLAGS kept, unity sources."""

from sim.build import make_env, unity_sources


def test_a_parent_makes_flags_are_dropped_and_ours_used(monkeypatch):
    """Under 'make test' / 'make demo', make exports MAKEFLAGS (its jobserver, often -j1): the build used to run on
    one core at -Os. Now the parent's flags go and ours (-j<cores>) are passed."""
    monkeypatch.setenv("MAKELEVEL", "1")
    monkeypatch.setenv("MAKEFLAGS", " -j1 --jobserver-auth=3,4")
    monkeypatch.setenv("MFLAGS", "-j1")
    env, args = make_env(jobs=2)
    assert "MAKEFLAGS" not in env and "MAKELEVEL" not in env and "MFLAGS" not in env
    assert args == ["-j2"]


def test_a_users_own_makeflags_are_kept_and_their_jobs_win(monkeypatch):
    monkeypatch.delenv("MAKELEVEL", raising=False)
    monkeypatch.setenv("MAKEFLAGS", "-j8")
    env, args = make_env(jobs=2)
    assert env["MAKEFLAGS"] == "-j8" and args == []
    monkeypatch.setenv("MAKEFLAGS", "-k")
    env, args = make_env(jobs=3)
    assert env["MAKEFLAGS"] == "-k" and args == ["-j3"]


def test_unity_sources_balance_the_generated_files_by_size(tmp_path):
    sizes = {"Vtop": 10, "Vtop_a__0": 500, "Vtop_a__1": 400, "Vtop_b__0": 300, "Vtop_b__1": 200}
    for name, n in sizes.items():
        (tmp_path / f"{name}.cpp").write_text("x" * n)
    (tmp_path / "Vtop__Slow.cpp").write_text("")
    (tmp_path / "Vtop__Syms.cpp").write_text("")
    (tmp_path / "Vtop_classes.mk").write_text(
        "VM_CLASSES_FAST += \\\n" + "".join(f"\t{n} \\\n" for n in sizes) + "\n"
        "VM_CLASSES_SLOW += \\\n\tVtop__Slow \\\n\n"
        "VM_SUPPORT_SLOW += \\\n\tVtop__Syms \\\n\n")
    args = unity_sources(tmp_path, 2)
    assert args == ["VM_CLASSES_FAST=nn2rtl_unity_fast0 nn2rtl_unity_fast1", "VM_CLASSES_SLOW=nn2rtl_unity_slow",
                    "VM_SUPPORT_SLOW="]
    groups = [(tmp_path / f"nn2rtl_unity_fast{k}.cpp").read_text() for k in range(2)]
    included = sorted(line.split('"')[1][:-4] for g in groups for line in g.splitlines())
    assert included == sorted(sizes)  # every generated file exactly once
    load = [sum(sizes[line.split('"')[1][:-4]] for line in g.splitlines()) for g in groups]
    assert max(load) - min(load) <= 110  # balanced by size
    assert (tmp_path / "nn2rtl_unity_slow.cpp").read_text() == '#include "Vtop__Slow.cpp"\n#include "Vtop__Syms.cpp"\n'
