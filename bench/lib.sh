# bench/lib.sh - helpers shared by the bench scripts (sourced).

# bench_row WHAT RMGR ALTERNATIVE TARGET MET: one row of the results table.
bench_row() {
    printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" "$3" "$4" "$5" >>"${BENCH_RESULTS:-/dev/stdout}"
}

# bench_median: the median of the numbers on stdin, one per line.
bench_median() {
    sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1
        if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_pct P: the P-th percentile (nearest rank) of the numbers on stdin.
bench_pct() {
    sort -n | awk -v p="$1" '{ v[NR] = $1 } END { if (NR == 0) exit 1
        i = int(p / 100 * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR; print v[i] }'
}

# bench_free_port: a free loopback port (bind port 0).
bench_free_port() {
    /usr/bin/python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_free_ports N: N different free loopback ports on one line (all bound at once).
bench_free_ports() {
    /usr/bin/python3 -c 'import socket, sys
ss = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
