"""Compare the outputs of two executions of the same notebook (nbconvert vs esa run).

Usage: /usr/bin/python3 compare_outputs.py A.ipynb B.ipynb   (exit 1 on any difference)
Streams are coalesced per name (frontends split them differently); display ids
and metadata are ignored; everything else must be equal.
"""
import json
import sys


def norm(path):
    nb = json.load(open(path))
    cells = []
    for c in nb["cells"]:
        if c["cell_type"] != "code":
            continue
        outs = []
        for o in c.get("outputs", []):
            t = o["output_type"]
            if t == "stream":
                text = "".join(o["text"]) if isinstance(o["text"], list) else o["text"]
                if outs and outs[-1][0] == "stream" and outs[-1][1] == o["name"]:
                    outs[-1] = ("stream", o["name"], outs[-1][2] + text)
                else:
                    outs.append(("stream", o["name"], text))
            elif t in ("display_data", "execute_result"):
                data = {k: ("".join(v) if isinstance(v, list) else v) for k, v in o["data"].items()}
                outs.append((t, json.dumps(data, sort_keys=True)))
            elif t == "error":
                outs.append((t, o["ename"], o["evalue"]))
        cells.append(outs)
    return cells


a, b = norm(sys.argv[1]), norm(sys.argv[2])
if a != b:
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            print(f"code cell {i} differs:\n  {sys.argv[1]}: {x}\n  {sys.argv[2]}: {y}")
    if len(a) != len(b):
        print(f"cell counts differ: {len(a)} vs {len(b)}")
    sys.exit(1)
print(f"outputs match ({len(a)} code cells)")
