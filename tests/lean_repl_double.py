"""TEST DOUBLE: a stand-in for the Lean REPL that speaks its JSON protocol with canned answers.

It does not check anything. It exists so that the REPL pool's mechanics (framing, timeouts,
restarts, maximum uses, the memory cap, crash backoff) and the tactic-search loop can be tested
where no Lean toolchain is installed. A verdict it leads to is never evidence that Lean
checking works; the `lean`-marked tests are.

Behaviour, keyed on words in the request text:
- a command without "env" makes a fresh environment; with DOUBLE_HEADER_ERROR it reports an error,
  with DOUBLE_SLOW_HEADER it sleeps 30 s first;
- `axiom NAME` records an axiom; `theorem NAME` / `lemma NAME` records a theorem whose axioms are
  propext plus every recorded axiom named in the command;
- double_hang sleeps for an hour, double_crash exits 134 (double_crash_once only the first time,
  remembered in the file LEAN_DOUBLE_MARK), double_oom allocates until MemoryError and then
  panics like Lean ("INTERNAL PANIC: out of memory"), double_error reports
  an error, `sorry` reports a sorry with a proof state;
- `#print axioms NAME` answers as Lean does;
- tactics: `constructor` splits a goal `⊢ A ∧ B`, `trivial` closes `⊢ True`, `exact ...` closes any
  goal, `skip` changes nothing, double_hang / double_crash as above, anything else is an error.
Environment: LEAN_DOUBLE_LOG=FILE appends "start PID" per process start;
LEAN_DOUBLE_CRASH_ON_START=1 exits at once with a message on stderr.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

ENVS: list[dict[str, list[str]]] = []
STATES: list[list[str]] = []


def reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj, indent=1, ensure_ascii=False) + "\n\n")
    sys.stdout.flush()


def read_request() -> str | None:
    lines = []
    while True:
        line = sys.stdin.readline()
        if not line:
            return None if not lines else "".join(lines)
        if not line.strip():
            if lines:
                return "".join(lines)
            continue
        lines.append(line.rstrip())


def misbehave(text: str) -> None:
    if "double_hang" in text:
        time.sleep(3600)
    mark = os.environ.get("LEAN_DOUBLE_MARK")
    if "double_crash_once" in text and mark and not os.path.exists(mark):
        open(mark, "w").close()
        sys.stderr.write("double: simulated crash (once)\n")
        sys.stderr.flush()
        os._exit(134)
    if "double_crash" in text and "double_crash_once" not in text:
        sys.stderr.write("double: simulated crash\n")
        sys.stderr.flush()
        os._exit(134)
    if "double_oom" in text:
        hoard = []
        try:
            for _ in range(16):  # at most 1 GiB; the test's RLIMIT_AS stops this far earlier
                hoard.append(bytearray(64 * 2**20))
        except MemoryError:
            hoard.clear()
            sys.stderr.write("INTERNAL PANIC: out of memory\n")
            sys.stderr.flush()
            os._exit(1)
        sys.stderr.write("double: allocated 1 GiB without hitting a memory limit\n")


def goal_of(text: str) -> str:
    m = re.search(r"(?:theorem|lemma)\s+\S+(.*?):=", text, re.S)
    sig = m.group(1) if m else ""
    depth, cut = 0, None
    for i, c in enumerate(sig):  # the type is after the last top-level colon
        depth += c in "([{⟨"
        depth -= c in ")]}⟩"
        if c == ":" and depth == 0:
            cut = i
    return "⊢ " + (sig[cut + 1 :] if cut is not None else sig).strip()


def command(req: dict) -> dict:
    text = req["cmd"]
    if "env" in req:
        if not 0 <= req["env"] < len(ENVS):
            return {"message": "Unknown environment."}
        decls = dict(ENVS[req["env"]])
    else:
        if "DOUBLE_SLOW_HEADER" in text:
            time.sleep(30)
        decls = {}
    misbehave(text)
    messages = []
    m = re.match(r"\s*#print axioms (\S+)", text)
    if m:
        name = m.group(1)
        if name not in decls:
            messages.append(error(f"unknown constant '{name}'"))
        elif decls[name]:
            messages.append(
                {
                    "severity": "info",
                    "pos": {"line": 1, "column": 0},
                    "data": f"'{name}' depends on axioms: [{', '.join(decls[name])}]",
                }
            )
        else:
            messages.append(
                {"severity": "info", "pos": {"line": 1, "column": 0}, "data": f"'{name}' does not depend on any axioms"}
            )
    for ax in re.findall(r"\baxiom\s+(\w+)", text):
        decls[ax] = [ax]
    used = [a for a in decls if decls[a] == [a] and re.search(rf"\b{a}\b", text.split(":=", 1)[-1])]
    for thm in re.findall(r"\b(?:theorem|lemma)\s+(\w+)", text):
        decls[thm] = sorted({"propext", *used})
    if "DOUBLE_HEADER_ERROR" in text or "double_error" in text:
        messages.append(error("type mismatch\n  rfl\nhas type\n  f = f : Prop"))
    resp: dict = {}
    if re.search(r"\bsorry\b", text):
        STATES.append([goal_of(text)])
        resp["sorries"] = [
            {
                "pos": {"line": 1, "column": 0},
                "endPos": {"line": 1, "column": 5},
                "goal": STATES[-1][0],
                "proofState": len(STATES) - 1,
            }
        ]
        messages.append({"severity": "warning", "pos": {"line": 1, "column": 8}, "data": "declaration uses 'sorry'"})
    ENVS.append(decls)
    resp["env"] = len(ENVS) - 1
    if messages:
        resp["messages"] = messages
    return resp


def error(data: str) -> dict:
    return {"severity": "error", "pos": {"line": 1, "column": 0}, "endPos": {"line": 1, "column": 3}, "data": data}


def tactic(req: dict) -> dict:
    if not 0 <= req["proofState"] < len(STATES):
        return {"message": "Unknown proof state."}
    goals = list(STATES[req["proofState"]])
    tac = req["tactic"].strip()
    misbehave(tac)
    if not goals:
        return {"message": "Lean error:\nno goals to be proved"}
    first = goals[0]
    if tac == "constructor" and " ∧ " in first:
        left, right = first[2:].split(" ∧ ", 1)
        goals[:1] = ["⊢ " + left.strip(), "⊢ " + right.strip()]
    elif (tac == "trivial" and first == "⊢ True") or tac.startswith("exact "):
        goals = goals[1:]
    elif tac != "skip":
        return {"proofState": req["proofState"], "goals": goals, "messages": [error(f"tactic '{tac}' failed")]}
    STATES.append(goals)
    status = "Completed" if not goals else "Incomplete: open goals remain"
    return {"proofState": len(STATES) - 1, "goals": goals, "proofStatus": status}


def main() -> None:
    if os.environ.get("LEAN_DOUBLE_LOG"):
        with open(os.environ["LEAN_DOUBLE_LOG"], "a") as f:
            f.write(f"start {os.getpid()} {os.getcwd()}\n")
    if os.environ.get("LEAN_DOUBLE_CRASH_ON_START"):
        sys.stderr.write("double: crashing on start as asked\n")
        sys.exit(3)
    while (text := read_request()) is not None:
        try:
            req = json.loads(text)
        except json.JSONDecodeError as e:
            sys.stderr.write(f'uncaught exception: {{"message": "Could not parse JSON:\\n{e}"}}\n')
            sys.exit(1)
        reply(tactic(req) if "tactic" in req else command(req))


if __name__ == "__main__":
    main()
