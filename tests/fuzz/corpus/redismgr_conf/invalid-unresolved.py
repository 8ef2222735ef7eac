cluster0 = {
    'cluster_name': 'cluster0',
    'sentinel': [('10.0.0.1:29001', '/tmp/r/sentinel')],
    'redis': ['c-1:nosuchhost:2000:/tmp/r/a', 'c-1:10.0.0.2:3000:/tmp/r/b'],
}
