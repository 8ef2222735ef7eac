cluster0 = {
    'cluster_name': 'cluster0,
}
