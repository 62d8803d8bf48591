"""The REPL's JSON protocol, against the examples in the leanprover-community/repl README."""

from __future__ import annotations

import json

import pytest

from provers.lean.protocol import (
    Command,
    CommandResponse,
    Message,
    PickleEnvironment,
    ProofStep,
    ProofStepResponse,
    ProtocolError,
    ReplError,
    UnpickleEnvironment,
    axioms_in_text,
    decode,
    encode,
    parse_axioms,
    split_response,
    uses_sorry,
)

# Verbatim from the README (command mode, tactic mode).
README_COMMAND_RESPONSE = """{"sorries":
 [{"pos": {"line": 1, "column": 18},
   "endPos": {"line": 1, "column": 23},
   "goal": "⊢ Nat",
   "proofState": 0}],
 "messages":
 [{"severity": "error",
   "pos": {"line": 1, "column": 23},
   "endPos": {"line": 1, "column": 26},
   "data":
   "type mismatch\\n  rfl\\nhas type\\n  f = f : Prop\\nbut is expected to have type\\n  f = 2 : Prop"}],
 "env": 6}"""
README_TACTIC_START = """{"sorries":
 [{"proofState": 0,
   "pos": {"line": 1, "column": 29},
   "goal": "x : Unit\\n⊢ Nat",
   "endPos": {"line": 1, "column": 34}}],
 "messages":
 [{"severity": "warning",
   "pos": {"line": 1, "column": 4},
   "endPos": {"line": 1, "column": 5},
   "data": "declaration uses 'sorry'"}],
 "env": 0}"""


def test_requests_encode_as_one_json_line_and_a_blank_line():
    data = encode(Command(cmd="example : f = 2 := by\n  rfl\n\n  -- done", env=3))
    assert data.endswith(b"\n\n") and data.count(b"\n") == 2
    assert json.loads(data) == {"cmd": "example : f = 2 := by\n  rfl\n\n  -- done", "env": 3}
    assert json.loads(encode(Command(cmd="def f := 2"))) == {"cmd": "def f := 2"}
    assert json.loads(encode(ProofStep(tactic="apply Int.natAbs", proofState=0))) == {
        "tactic": "apply Int.natAbs",
        "proofState": 0,
    }
    assert json.loads(encode(PickleEnvironment(pickleTo="path/to/file.olean", env=7))) == {
        "pickleTo": "path/to/file.olean",
        "env": 7,
    }
    assert json.loads(encode(UnpickleEnvironment(unpickleEnvFrom="f.olean"))) == {"unpickleEnvFrom": "f.olean"}
    assert "⊢".encode() in encode(Command(cmd="-- ⊢"))


def test_readme_command_response_decodes():
    resp = decode(README_COMMAND_RESPONSE)
    assert isinstance(resp, CommandResponse) and resp.env == 6
    assert resp.sorries[0].goal == "⊢ Nat" and resp.sorries[0].proofState == 0
    (err,) = resp.errors
    assert err.pos.line == 1 and err.endPos.column == 26
    assert err.data.startswith("type mismatch\n  rfl")
    assert uses_sorry(resp)


def test_readme_tactic_mode_decodes():
    start = decode(README_TACTIC_START)
    assert isinstance(start, CommandResponse) and not start.errors and uses_sorry(start)
    step = decode('{"proofState": 1, "goals": ["x : Unit\\n⊢ Int"]}')
    assert isinstance(step, ProofStepResponse) and step.goals == ("x : Unit\n⊢ Int",)
    done = decode('{"proofState": 2, "goals": []}')
    assert isinstance(done, ProofStepResponse) and done.goals == () and not uses_sorry(done)


def test_clean_response_omits_empty_lists():
    resp = decode('{"env": 1}')
    assert isinstance(resp, CommandResponse) and resp.messages == () and not uses_sorry(resp)


def test_message_only_response_is_a_repl_error():
    assert decode('{"message": "Unknown environment."}') == ReplError(message="Unknown environment.")
    assert isinstance(decode('{"message": "Lean error:\\nunknown tactic"}'), ReplError)


@pytest.mark.parametrize(
    "text", ["not json", "[1, 2]", '{"env": "six"}', '{"messages": [{"severity": "loud", "data": ""}]}']
)
def test_malformed_responses_raise_protocol_error(text):
    with pytest.raises(ProtocolError):
        decode(text)


def test_split_response_waits_for_the_blank_line():
    assert split_response('{"env":\n 0}') is None
    assert split_response('{"env":\n 0}\n') is None
    first, rest = split_response('\n{"env":\n 0}\n\n{"env": 1}\n\n')
    assert json.loads(first) == {"env": 0}
    assert split_response(rest) == ('{"env": 1}', "")


def info(data: str) -> Message:
    return Message(severity="info", data=data)


@pytest.mark.parametrize(
    "data, expected",
    [
        (
            "'t' depends on axioms: [propext, Classical.choice, Quot.sound]",
            ("t", ["propext", "Classical.choice", "Quot.sound"]),
        ),
        (
            "'Foo.t' depends on axioms: [propext,\n Classical.choice,\n sorryAx]",
            ("Foo.t", ["propext", "Classical.choice", "sorryAx"]),
        ),
        ("'t' does not depend on any axioms", ("t", [])),
    ],
)
def test_print_axioms_output_parses(data, expected):
    assert parse_axioms([info(data)]) == expected
    assert axioms_in_text(f"file.lean:3:0: {data}\n") == expected[1]


def test_print_axioms_ignores_other_severities_and_text():
    assert parse_axioms([Message(severity="error", data="'t' does not depend on any axioms")]) is None
    assert parse_axioms([info("unknown constant 't'")]) is None
    assert axioms_in_text("nothing here") is None


def test_sorry_warning_in_either_quoting():
    for data in ("declaration uses 'sorry'", "declaration uses `sorry`"):
        assert uses_sorry(CommandResponse(env=1, messages=(Message(severity="warning", data=data),)))
    assert not uses_sorry(CommandResponse(env=1, messages=(Message(severity="warning", data="unused variable"),)))
