# a call is never made: the file is read, not run
cluster0 = {
    'cluster_name': __import__('os').system('touch /tmp/rmgr-convert-must-not-exist'),
    'sentinel': [('127.0.0.5:29001', '/tmp/r/sentinel')],
    'redis': ['c-1:127.0.0.5:2000:/tmp/r/a', 'c-1:127.0.0.5:3000:/tmp/r/b'],
}
