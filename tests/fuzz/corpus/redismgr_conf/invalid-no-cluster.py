RDB_SLEEP_TIME = 1
REDIS_MONITOR_EXTRA = {'used_cpu_user': (0, 50)}
