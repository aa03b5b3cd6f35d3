/* SPDX-License-Identifier: BSD-3-Clause */
#ifndef VSTOP_CONSOLE_H
#define VSTOP_CONSOLE_H

/*
 * The console: "-i" opens a "vstop> " prompt on the terminal (librte_cmdline line
 * editing, history, tab completion, '?' help); "--cmdline-file FILE" runs a script of
 * the same commands first (then the prompt if -i is given too). Both run on one
 * control thread and go through the command table of cmd/cmd.h.
 */

#include <stdbool.h>

/*
 * Start the console thread if -i or --cmdline-file was given (after the ports and the
 * engine run). @return 0 (also when there is nothing to start) or -errno.
 */
int console_start(bool interactive, const char *script);
/* Stop it: leaves the prompt, restores the terminal, joins the thread. Any thread. */
void console_stop(void);

#endif /* VSTOP_CONSOLE_H */
