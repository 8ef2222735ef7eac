#coding: utf-8
# From redis-mgr (github.com/idning/redis-mgr, by @idning and @cen-li),
# conf/conf.py: the older ('host:port', path) form of the redis pairs, and
# the 'migration' list that redis-mgr's migrate command appends to the file.
#the port: role: x, cluster_id: x, instance:xx
#       2        0              x           xx

#path in the deploy machine
BINARYS = {
    'REDIS_SERVER_BINS' : '/home/ning/idning-github/redis/src/redis-*',
    'REDIS_CLI' : '/home/ning/idning-github/redis/src/redis-cli',
    'REDIS_SENTINEL_BINS' : '/home/ning/idning-github/redis/src/redis-sentinel',
    'NUTCRACKER_BINS' : '/home/ning/idning-github/twemproxy/src/nutcracker',
}

RDB_SLEEP_TIME = 1

#optional
REDIS_MONITOR_EXTRA = {
    'used_cpu_user':              (0, 50),
}

#optional
NUTCRACKER_MONITOR_EXTRA = {
    'client_connections':  (0, 10),
    "forward_error_INC":   (0, 1000),  # in every minute
    "client_err_INC":      (0, 1000),  # in every minute
    'in_queue':            (0, 10),
    'out_queue':           (0, 10),
}

cluster0 = {
    'cluster_name': 'cluster0',
    'user': 'ning',
    'sentinel':[
        ('127.0.0.5:29001', '/tmp/r/sentinel-29001'),
        ('127.0.0.5:29002', '/tmp/r/sentinel-29002'),
        ('127.0.0.5:29003', '/tmp/r/sentinel-29003'),
    ],
    'redis': [
        # master(host:port, install path)       ,  slave(host:port, install path)
        ('127.0.0.5:22000', '/tmp/r/redis-22000'), ('127.0.0.5:23000', '/tmp/r/redis-23000'),
        ('127.0.0.5:22001', '/tmp/r/redis-22001'), ('127.0.0.5:23001', '/tmp/r/redis-23001'),
        ('127.0.0.5:22002', '/tmp/r/redis-22002'), ('127.0.0.5:23002', '/tmp/r/redis-23002'),
        ('127.0.0.5:22003', '/tmp/r/redis-22003'), ('127.0.0.5:23003', '/tmp/r/redis-23003'),
    ],
    'nutcracker': [
        ('127.0.0.5:24000', '/tmp/r/nutcracker-24000'),
        ('127.0.0.5:24001', '/tmp/r/nutcracker-24001'),
        ('127.0.0.5:24002', '/tmp/r/nutcracker-24002'),
        ('127.0.0.5:24003', '/tmp/r/nutcracker-24003'),
    ],
}

cluster0['migration'] = []
cluster0['migration'].append('cluster0-22000:127.0.0.5:22000:/tmp/r/redis-22000=>cluster0-22000:127.0.0.5:52000:/tmp/r/redis-52000')
cluster0['migration'].append('cluster0-22000:127.0.0.5:23000:/tmp/r/redis-23000=>cluster0-22000:127.0.0.5:53000:/tmp/r/redis-53000')
cluster0['migration'].append('cluster0-22000:127.0.0.5:53000:/tmp/r/redis-53000=>cluster0-22000:127.0.0.5:54000:/tmp/r/redis-54000')
cluster0['migration'].append('cluster0-22000:127.0.0.5:52000:/tmp/r/redis-52000=>cluster0-22000:127.0.0.5:56000:/tmp/r/redis-56000')
