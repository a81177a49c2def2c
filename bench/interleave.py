"""Wall time of several commands, measured in interleaved rounds.

    python3 bench/interleave.py [--cold] RUNS -- CMD1 -- CMD2 ...

Each round runs every command once, in a random order, so a machine whose
speed drifts (a shared VM) affects all of them alike; hyperfine runs one
command's runs back to back instead. --cold drops the page cache before
every run (root only). Prints one median in milliseconds per command, in
the order given, after two warm-up rounds (none when cold).
"""
import random
import statistics
import subprocess
import sys
import time


def main(argv):
    cold = argv[:1] == ["--cold"]
    if cold:
        argv = argv[1:]
    runs = int(argv[0])
    cmds, cur = [], None
    for a in argv[1:]:
        if a == "--":
            cur = []
            cmds.append(cur)
        else:
            cur.append(a)
    times = [[] for _ in cmds]
    for r in range(runs + (0 if cold else 2)):
        order = list(range(len(cmds)))
        random.shuffle(order)
        for i in order:
            if cold:
                subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True, check=True)
            t = time.perf_counter()
            subprocess.run(cmds[i], check=True, stdout=subprocess.DEVNULL)
            if cold or r >= 2:
                times[i].append((time.perf_counter() - t) * 1e3)
    for t in times:
        print("%.2f" % statistics.median(t))


if __name__ == "__main__":
    main(sys.argv[1:])
