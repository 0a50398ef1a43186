#!/usr/bin/env python3
"""tests/export_check.py — checks an export (offerctl export, GET /export)
against the database rows it came from.

  export_check.py dsjson EXPORT DBROWS
  export_check.py csv EXPORT DBROWS

DBROWS: one episode per line, "|"-separated, as tests/lib.sh's sql prints
  id|customer_id|offer_1|offer_2|offer_3|prop_1|prop_2|prop_3|rewarded|r1|r2|r3|states
(empty for NULL). Prints one line per problem (at most 20) and exits 1 when
there is any; prints "ok N episodes, M lines" otherwise.
"""
import csv
import json
import math
import sys

problems = []


def problem(msg):
    problems.append(msg)


def num(s):
    return None if s == "" else float(s)


def close(a, b):
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def load_db(path):
    eps = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            c = line.split("|", 12)
            offers = [o for o in c[2:5] if o != ""]
            eps[c[0]] = {
                "customer": c[1],
                "offers": offers,
                "props": [num(p) for p in c[5:8]][: len(offers)],
                "rewarded": c[8] == "1",
                "rewards": [num(r) or 0.0 for r in c[9:12]],
                "states": json.loads(c[12]) if c[12] else None,
            }
    return eps


DSJSON_TYPES = {
    "_label_cost": (int, float),
    "_label_probability": (int, float),
    "_label_Action": int,
    "_labelIndex": int,
    "Timestamp": str,
    "Version": str,
    "EventId": str,
    "a": list,
    "c": dict,
    "p": list,
    "VWState": dict,
    "_original_label_cost": (int, float),
}


def check_dsjson(path, eps):
    seen = []
    n = 0
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.startswith('{"_label_cost":'):
                problem(f"line {n}: does not start with {{\"_label_cost\": (Personalizer's tools look for it)")
            try:
                d = json.loads(line)
            except ValueError as e:
                problem(f"line {n}: not JSON: {e}")
                continue
            for k, t in DSJSON_TYPES.items():
                if k not in d:
                    problem(f"line {n}: no {k}")
                elif not isinstance(d[k], t) or isinstance(d[k], bool):
                    problem(f"line {n}: {k} is {type(d[k]).__name__}")
            if problems:
                break
            ep = eps.get(d["EventId"])
            if ep is None:
                problem(f"line {n}: EventId {d['EventId']} is no episode of the company")
                continue
            seen.append(d["EventId"])
            k = len(ep["offers"])
            if d["a"] != list(range(1, k + 1)):
                problem(f"line {n}: a {d['a']} for {k} offers")
            multi = d["c"].get("_multi")
            if not isinstance(multi, list) or [m.get("Offer", {}).get("id") for m in multi] != ep["offers"]:
                problem(f"line {n}: c._multi {multi} is not the shown offers {ep['offers']}")
            if d["c"].get("Customer", {}).get("id") != ep["customer"]:
                problem(f"line {n}: c.Customer.id is not {ep['customer']}")
            if ep["states"] is not None and d["c"].get("State") != ep["states"]:
                problem(f"line {n}: c.State {d['c'].get('State')} is not {ep['states']}")
            if not all(close(a, b) for a, b in zip(d["p"], ep["props"])) or len(d["p"]) != k:
                problem(f"line {n}: p {d['p']} is not {ep['props']}")
            if not close(d["_label_probability"], ep["props"][0]):
                problem(f"line {n}: _label_probability {d['_label_probability']} is not {ep['props'][0]}")
            if not 0 < d["_label_probability"] <= 1:
                problem(f"line {n}: _label_probability {d['_label_probability']} is not in (0, 1]")
            want_cost = -ep["rewards"][0] if ep["rewarded"] else 0.0
            if not close(d["_label_cost"], want_cost) or d["_original_label_cost"] != d["_label_cost"]:
                problem(f"line {n}: _label_cost {d['_label_cost']} is not {want_cost}")
            if d["_label_Action"] != d["a"][0] or d["_labelIndex"] != d["_label_Action"] - 1:
                problem(f"line {n}: _label_Action/_labelIndex do not name a[0]")
            if ep["rewarded"] != ("o" in d):
                problem(f"line {n}: 'o' present {('o' in d)} but rewarded {ep['rewarded']}")
            if "o" in d and (d["o"][0].get("EventId") != d["EventId"] or not close(d["o"][0].get("v"), ep["rewards"][0])):
                problem(f"line {n}: o {d['o']} is not the reward")
            if not (len(d["Timestamp"]) == 24 and d["Timestamp"].endswith("Z") and d["Timestamp"][10] == "T"):
                problem(f"line {n}: Timestamp {d['Timestamp']} is not YYYY-MM-DDTHH:MM:SS.mmmZ")
            if len(problems) >= 20:
                break
    if seen != sorted(seen, key=int):
        problem("episodes are not in id order")
    if len(set(seen)) != len(seen):
        problem("an episode is exported twice")
    missing = set(eps) - set(seen)
    if missing and not problems:
        problem(f"{len(missing)} episodes are missing, e.g. {sorted(missing, key=int)[:5]}")
    return len(seen), n


CSV_HEADER = ["timestamp", "episode_id", "customer_id", "position", "item_id", "pscore", "reward",
              "rewarded", "accepted", "request_timestamp", "state_key", "policy", "agent_version", "context"]


def check_csv(path, eps):
    rows = 0
    per_ep = {}
    with open(path, encoding="utf-8", newline="") as f:
        r = csv.reader(f)
        header = next(r, None)
        if header != CSV_HEADER:
            problem(f"header {header}")
            return 0, 0
        for row in r:
            rows += 1
            if len(row) != len(CSV_HEADER):
                problem(f"row {rows}: {len(row)} fields")
                continue
            d = dict(zip(CSV_HEADER, row))
            ep = eps.get(d["episode_id"])
            if ep is None:
                problem(f"row {rows}: episode {d['episode_id']} is no episode of the company")
                continue
            pos = int(d["position"])
            per_ep.setdefault(d["episode_id"], []).append(pos)
            if pos >= len(ep["offers"]) or d["item_id"] != ep["offers"][pos]:
                problem(f"row {rows}: position {pos} item {d['item_id']} is not {ep['offers']}")
                continue
            if not close(num(d["pscore"]), ep["props"][pos]):
                problem(f"row {rows}: pscore {d['pscore']} is not {ep['props'][pos]}")
            want = ep["rewards"][pos] if ep["rewarded"] else 0.0
            if not close(float(d["reward"]), want) or d["rewarded"] != ("1" if ep["rewarded"] else "0"):
                problem(f"row {rows}: reward {d['reward']}/{d['rewarded']} is not {want}/{ep['rewarded']}")
            if d["customer_id"] != ep["customer"]:
                problem(f"row {rows}: customer {d['customer_id']} is not {ep['customer']}")
            if ep["states"] is not None and json.loads(d["context"]) != ep["states"]:
                problem(f"row {rows}: context {d['context']} is not the states")
            if len(problems) >= 20:
                break
    for eid, ep in eps.items():
        if per_ep.get(eid) != list(range(len(ep["offers"]))):
            problem(f"episode {eid}: positions {per_ep.get(eid)} for {len(ep['offers'])} offers")
            break
    return len(per_ep), rows


def main():
    mode, path, dbrows = sys.argv[1:4]
    eps = load_db(dbrows)
    if mode == "dsjson":
        n, lines = check_dsjson(path, eps)
    else:
        n, lines = check_csv(path, eps)
    for p in problems[:20]:
        print(p)
    if problems:
        sys.exit(1)
    print(f"ok {n} episodes, {lines} lines")


main()
