/*
 * exit_code.h - rmgr's exit statuses: what every command and the reconcile
 * daemon return to the shell (README "Commands").
 */
#ifndef RMGR_EXIT_CODE_H
#define RMGR_EXIT_CODE_H

enum exit_code {
    EXIT_OK = 0,
    EXIT_FAILURE_ = 1,  /* an error, or a plan that refuses */
    EXIT_USAGE = 2,     /* unknown command or option */
    EXIT_CHANGES = 2,   /* plan --detailed-exitcode: changes pending */
    EXIT_RISKS = 3,     /* validate --ha: the layout has single points of failure */
};

#endif
