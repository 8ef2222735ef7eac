/*
 * secrets_dir.h - open a file that must be under the secrets directory
 * (--secrets-dir, $RMGR_SECRETS_DIR, else /etc/rmgr/secrets and
 * ~/.config/rmgr/secrets), as spec_open_secret_file does for a spec's
 * password_file: an absolute path must be below it, a relative one is looked
 * up in it, and no symbolic link is followed.
 */
#ifndef RMGR_SECRETS_DIR_H
#define RMGR_SECRETS_DIR_H

/* The descriptor, or -1 with *err. */
int secrets_dir_open(const char *file, char **err);

#endif
