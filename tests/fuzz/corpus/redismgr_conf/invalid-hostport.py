cluster0 = {
    'cluster_name': 'cluster0',
    'sentinel': [('127.0.0.5', '/tmp/r/sentinel')],
    'redis': ['c-1:127.0.0.5:2000:/tmp/r/a', 'c-1:127.0.0.5:3000:/tmp/r/b'],
}
