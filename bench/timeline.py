"""Summarise a bench/throttle -timeline file as a markdown table.

    python3 bench/timeline.py FILE BIN WALL CLIENT RATE

FILE holds one line per sample, "T IN_FLIGHT BYTES NAME=N ..."; each row
of the table is a bin of BIN seconds: the requests in flight (over
HTTP/1.1, the connections in use), their mean and peak, the mean per file,
and the MiB/s sent. WALL (seconds), CLIENT and RATE (bytes/s per
connection) go into the caption.
"""
import collections
import sys

SHORT = {"shape_predictor_68_face_landmarks.dat.bz2": "dlib.bz2", "codeformer.pth": "codeformer",
         "detection_Resnet50_Final.pth": "detection", "parsing_parsenet.pth": "parsing",
         "u2net_human_seg.onnx": "u2net"}


def table(path, bin, wall, client, rate):
    rows = collections.defaultdict(lambda: {"n": 0, "flight": 0, "bytes": 0, "peak": 0,
                                            "files": collections.Counter()})
    for line in open(path):
        f = line.split()
        t, flight, sent = float(f[0]), int(f[1]), int(f[2])
        r = rows[int(t // bin)]
        r["n"] += 1
        r["flight"] += flight
        r["peak"] = max(r["peak"], flight)
        r["bytes"] += sent
        for kv in f[3:]:
            k, v = kv.rsplit("=", 1)
            r["files"][SHORT.get(k, k)] += int(v)
    names = list(SHORT.values())
    out = [f"{client}, one cold run, {wall:.2f} s. Per {bin:g} s: requests in flight (the connections "
           f"in use), mean and peak; mean per file; MiB/s sent (each connection paced at "
           f"{rate / (1 << 20):.0f} MiB/s).", "",
           "| t (s) | in use | peak | " + " | ".join(names) + " | MiB/s |",
           "|---" * (len(names) + 4) + "|"]
    total = 0
    for b in sorted(rows):
        r = rows[b]
        n = r["n"]
        total += r["bytes"]
        per = " | ".join(f"{r['files'][k] / n:.1f}" if r["files"][k] else "" for k in names)
        out.append(f"| {b * bin:.2f} | {r['flight'] / n:.1f} | {r['peak']} | {per} | "
                   f"{r['bytes'] / bin / (1 << 20):.0f} |")
    out += ["", f"{total / 1e6:.0f} MB sent."]
    return "\n".join(out)


if __name__ == "__main__":
    path, bin, wall, client, rate = sys.argv[1:6]
    print(table(path, float(bin), float(wall), client, int(rate)))
