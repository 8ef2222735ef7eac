#coding: utf-8
# The seed walk-through's cluster as redis-mgr (github.com/idning/redis-mgr)
# describes it in conf/conf.py: four Redis hosts and a manager, 4 sentinels,
# one nutcracker on the manager. The layout of the file (BINARYS, the
# *_MONITOR_EXTRA bounds, the cluster dict, the migration list) follows
# redis-mgr's own conf/conf.py; the hosts are the walk-through's.

#path in the deploy machine
BINARYS = {
    'REDIS_SERVER_BINS'   : '_binaries/redis-*',
    'REDIS_CLI'           : '_binaries/redis-cli',
    'REDIS_SENTINEL_BINS' : '_binaries/redis-sentinel',
    'NUTCRACKER_BINS'     : '_binaries/nutcracker',
}#TODO: check it

BINARYS['MON_BINS'] = '_binaries/mon';

REDIS_MGR_CHECK_PREFIX = 'redis-mgr-check-'

RDB_SLEEP_TIME = 1

#optional
REDIS_MONITOR_EXTRA = {
    'used_cpu_user':              (0, 50),
    'latest_fork_usec':           (0, 500*1000), #500ms
    'used_memory_peak' :          (0, 8*(2**30)),
}

#optional
NUTCRACKER_MONITOR_EXTRA = {
    'client_connections':  (0, 10),
    "forward_error_INC":   (0, 1000),  # in every minute
}

cluster = {
    'cluster_name': 'cluster',
    'user': 'root',
    'REDIS_MONITOR_EXTRA': {
        'used_cpu_user':              (0, 1),
        '_slowlog_per_sec':           (0, 10),
    },
    'sentinel':[
        ('redis1:26379', '/data/redis/sentinel-26379'),
        ('redis2:26379', '/data/redis/sentinel-26379'),
        ('redis3:26379', '/data/redis/sentinel-26379'),
        ('redis4:26379', '/data/redis/sentinel-26379'),
    ],
    'redis': [
        # master(name:host:port:install path)           ,  slave(name:host:port:install path)
        'cluster-redis1:redis1:6379:/data/redis/redis-6379', 'cluster-redis1:redis3:6379:/data/redis/redis-6379',
        'cluster-redis2:redis2:6379:/data/redis/redis-6379', 'cluster-redis2:redis4:6379:/data/redis/redis-6379',
    ],
    'nutcracker': [
        ('mgr:6379', '/data/redis/nutcracker-6379'),
    ],
}
