# a master without its slave
cluster0 = {
    'cluster_name': 'cluster0',
    'sentinel': [('127.0.0.5:29001', '/tmp/r/s')],
    'redis': [
        'cluster0-2000:127.0.0.5:2000:/tmp/r/redis-2000', 'cluster0-2000:127.0.0.5:3000:/tmp/r/redis-3000',
        'cluster0-2001:127.0.0.5:2001:/tmp/r/redis-2001',
    ],
}
