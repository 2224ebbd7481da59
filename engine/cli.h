/*
 * cli.h: the sluice subcommands. Each takes the arguments after its name
 * (argv[0] is the subcommand) and returns the process exit code; each prints
 * its own --help. Exit codes follow run.h.
 */
#ifndef SL_ENGINE_CLI_H
#define SL_ENGINE_CLI_H

int sl_cmd_keygen(int argc, char **argv);
int sl_cmd_ingest(int argc, char **argv);
int sl_cmd_inspect(int argc, char **argv);
int sl_cmd_audit(int argc, char **argv);
int sl_cmd_ledger(int argc, char **argv);
int sl_cmd_policy(int argc, char **argv);
int sl_cmd_review(int argc, char **argv);

#endif
