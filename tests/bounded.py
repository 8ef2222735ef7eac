# bounded.py STATS SANITIZED CWD CMD... - run CMD in CWD within 20 s, and within 256 MB of
# address space unless SANITIZED is 1 (ASan reserves terabytes: its peak RSS is checked
# instead); stdout and stderr pass through. Writes "EXIT PEAK_RSS_KB SECONDS" to STATS
# (exit 124 on timeout).
import errno, resource, subprocess, sys, time

stats, sanitized, cwd, cmd = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4:]


def limit():
    if not sanitized:
        resource.setrlimit(resource.RLIMIT_AS, (256 << 20, 256 << 20))


t = time.monotonic()
for attempt in range(50):
    try:
        rc = subprocess.run(cmd, preexec_fn=limit, timeout=20, cwd=cwd).returncode
        break
    except subprocess.TimeoutExpired:
        rc = 124
        break
    except OSError as e:
        # fork can fail for a moment on a loaded machine (EAGAIN: the pids limit); the
        # command never ran, so trying again measures the same thing
        if e.errno not in (errno.EAGAIN, errno.ENOMEM) or attempt == 49:
            raise
        time.sleep(0.1)
secs = time.monotonic() - t
rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
with open(stats, "w") as f:
    f.write("%d %d %.2f\n" % (rc, rss, secs))
